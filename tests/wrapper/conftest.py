"""Fixtures for the capture-wrapper and mirror lab tests: the real CLI, a fresh HOME, a private containerd."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from wrapperhelpers import Containerd, Mirror, clean_env  # noqa: E402 - the folder is put on sys.path first


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return clean_env(home)


@pytest.fixture(scope="session")
def containerd(lab) -> Iterator[Containerd]:
    root = Path(tempfile.mkdtemp(prefix="wrapper-containerd-"))
    c = Containerd(root)
    yield c
    c.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mirror(lab, env, tmp_path):
    started: list[Mirror] = []

    def start(upstream: str, *extra: str) -> Mirror:
        m = Mirror(upstream, tmp_path / f"mirror-out-{len(started)}", env, tmp_path, list(extra))
        started.append(m)
        return m

    yield start
    for m in started:
        if m.proc.poll() is None:
            m.proc.kill()
            m.proc.wait()
