"""Recorded logs of real lab pulls (tests/unit/logs/data) and the seed 003 fixture."""

import os
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "logs"


@pytest.fixture
def harbor_log(tmp_path) -> Path:
    """Seed 003's log lines, dated as the blog post was (syslog lines carry no year)."""
    path = tmp_path / "003-harbor-proxy.log"
    shutil.copy(SAMPLES / "003-harbor-proxy.log", path)
    stamp = 1513944000  # 2017-12-22 12:00 UTC
    os.utime(path, (stamp, stamp))
    return path
