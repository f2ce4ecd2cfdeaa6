"""The command tests reuse the recorded traces of the diagnosis and render tests."""

import sys
from pathlib import Path

_UNIT = Path(__file__).resolve().parents[1]
for folder in ("diagnose", "render"):
    if str(_UNIT / folder) not in sys.path:
        sys.path.insert(0, str(_UNIT / folder))
