"""Where a command's text goes: standard output, or a file written whole or not at all."""

from __future__ import annotations

import sys
from pathlib import Path

from pulltrace.errors import UserError
from pulltrace.model import write_atomically
from pulltrace.render.outputs import format_for


def to_stdout(output: str | Path | None) -> bool:
    """`-o -` and no `-o` both mean standard output."""
    return output is None or str(output) in ("", "-")


def chosen_format(fmt: str | None, output: str | Path | None, default: str = "text") -> str:
    """`--format`, else what OUT's suffix asks for, else `default`."""
    if fmt:
        return fmt
    if not to_stdout(output):
        return format_for(str(output)) or default
    return default


def check_writable(output: str | Path | None) -> None:
    """Refuse an OUT that cannot be written before any work is done (and nothing is left half-written)."""
    if to_stdout(output):
        return
    out = Path(str(output))
    if out.is_dir():
        raise UserError(f"{out} is a directory; give a file name for -o")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{out}: directory {parent} does not exist")


def emit(text: str, output: str | Path | None) -> None:
    """Write `text` to standard output or, atomically, to `output`."""
    if to_stdout(output):
        sys.stdout.write(text)
        return
    check_writable(output)
    try:
        write_atomically(str(output), text)
    except OSError as e:
        raise UserError(f"{output}: cannot write: {e.strerror or e}") from None
