"""pulltrace for mitmproxy: `mitmdump -s addons/pulltrace.py` (see `pulltrace addon-path`).

This file only loads the addon from the pulltrace package (installed, or this clone's).
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
# mitmproxy puts a script's folder first on sys.path, where this very file would shadow
# the `pulltrace` package; look past it, and fall back to the clone this file sits in.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if not hasattr(sys.modules.get("pulltrace"), "__path__"):
    sys.modules.pop("pulltrace", None)
try:
    from pulltrace.capture.addon import PullTrace
except ModuleNotFoundError as e:
    if e.name != "pulltrace":
        raise
    sys.path.insert(0, str(_HERE.parent))
    from pulltrace.capture.addon import PullTrace

addons = [PullTrace()]
