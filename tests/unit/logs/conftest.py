"""Puts this folder on sys.path so the tests import `logsdata` (recorded logs, fixtures)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from logsdata import harbor_log  # noqa: E402,F401  (the fixture, registered here)
