"""pulltrace for mitmproxy: `mitmdump -s addons/pulltrace.py` (see `pulltrace addon-path`).

This file only loads the addon from the installed (or checked-out) pulltrace package.
"""

import sys
from pathlib import Path

try:
    from pulltrace.capture.addon import PullTrace
except ModuleNotFoundError as e:  # run from a clone whose package is not installed
    if e.name != "pulltrace":
        raise
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pulltrace.capture.addon import PullTrace

addons = [PullTrace()]
