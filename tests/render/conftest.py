import sys
from pathlib import Path

# The hand-built traces of the render unit tests serve these tests too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "render"))
