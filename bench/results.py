"""bench/RESULTS.md: each benchmark owns the section between its two markers and rewrites only that."""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulltrace.model import write_atomically  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS.md")


def write_section(section: str, begin: str, end: str, path: Path = RESULTS) -> None:
    """Put `section` (which starts with `begin` and ends with `end`) where the old one was, or at
    the end of the file; written whole or not at all."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in old and end in old:
        new = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: section, old, count=1, flags=re.S)
    else:
        new = old.rstrip() + "\n\n" + section + "\n"
    write_atomically(path, new)
