"""`pulltrace gallery DIR…`: every capture under some folders rendered, with an index page."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pulltrace.commands.load import load_trace
from pulltrace.commands.main import Exit
from pulltrace.commands.vocabulary import command_parser
from pulltrace.errors import UserError
from pulltrace.model import Trace, write_atomically
from pulltrace.render.i18n import LANGUAGES

# What a folder of captures holds: trace JSON, HAR, mitmdump -w files.
CAPTURE_SUFFIXES = (".json", ".har", ".flow", ".flows", ".mitm", ".dump")
MANAGED_SUFFIXES = (".html", ".md")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = command_parser(
        subparsers, "gallery",
        help="render every capture under some folders, with an index page",
        description="Render every capture under DIR (trace JSON, HAR, mitmdump -w flow files; "
                    f"suffixes {', '.join(CAPTURE_SUFFIXES)}) into OUT: an HTML and a Markdown report "
                    "each, and index.html linking them. Files that are not captures are skipped and "
                    "counted. Nothing in OUT is deleted.",
        examples=["pulltrace gallery ~/captures -o ~/captures/gallery",
                  "pulltrace gallery ci-night-1 ci-night-2 --lang zh -o gallery"],
    )
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="folder of captures (searched recursively)")
    p.add_argument("-o", "--output", type=Path, default=Path("pulltrace-gallery"), metavar="OUT",
                   help="folder for the reports (default: pulltrace-gallery)")
    p.add_argument("--lang", choices=LANGUAGES, default="en", help="label language (default: en)")
    p.set_defaults(func=run)


def capture_files(folder: Path, *, exclude: Path | None = None) -> list[Path]:
    """Every capture-looking file under `folder`, in a stable order, none inside `exclude`."""
    out = []
    for path in sorted(folder.rglob("*")):
        if exclude is not None and exclude in path.parents:
            continue
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in CAPTURE_SUFFIXES:
            out.append(path)
    return out


def report_name(path: Path, root: Path, prefix: str = "") -> str:
    """samples/seeds/000-daocloud.json under samples/ -> seeds-000-daocloud"""
    name = "-".join(path.relative_to(root).with_suffix("").parts)
    return f"{prefix}-{name}" if prefix else name


def load_folder(folders: Sequence[Path], *, exclude: Path | None = None,
                strict: bool = True) -> tuple[list[tuple[str, str, Trace]], list[str]]:
    """(name, label, trace) for each capture under `folders`, and a line per file skipped.

    `strict` makes an unreadable file an error instead of a skip (the repository's samples).
    """
    traces: list[tuple[str, str, Trace]] = []
    skipped: list[str] = []
    several = len(folders) > 1
    for folder in folders:
        if not folder.is_dir():
            raise UserError(f"{folder}: no such folder")
        for path in capture_files(folder, exclude=exclude):
            try:
                trace = load_trace([path])
            except UserError as e:
                if strict:
                    raise
                skipped.append(str(e))
                continue
            label = path.relative_to(folder).as_posix()
            traces.append((report_name(path, folder, folder.name if several else ""), label, trace))
    return traces, skipped


def stale_files(out: Path, files: dict[str, str], *, leftovers: bool = False) -> list[str]:
    """Names whose file in `out` differs from `files` or is missing (and, with `leftovers`,
    reports in `out` that no capture makes any more)."""
    stale = [name for name, text in files.items() if _read(out / name) != text]
    if leftovers and out.is_dir():
        stale += sorted(p.name for p in out.iterdir() if p.suffix in MANAGED_SUFFIXES and p.name not in files)
    return stale


def _read(path: Path) -> str | None:
    # Bytes, not read_text: universal newlines would turn the CRLF of a recorded body
    # (nginx's HTML error pages) into LF, and a fresh report would always look stale.
    try:
        return path.read_bytes().decode("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def write_gallery(out: Path, files: dict[str, str], *, remove_leftovers: bool = False) -> list[str]:
    """Write the reports that changed, each atomically; return their names."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{out}: cannot create the folder: {e.strerror or e}") from None
    changed = stale_files(out, files, leftovers=remove_leftovers)
    for name in changed:
        if name in files:
            write_atomically(out / name, files[name])
        else:
            (out / name).unlink()
    return changed


def run(args: argparse.Namespace) -> int:
    from pulltrace.render.gallery import render_gallery

    out = args.output.resolve()
    traces, skipped = load_folder(args.dirs, exclude=out, strict=False)
    if not traces:
        raise UserError(f"no capture found under {', '.join(map(str, args.dirs))}"
                        + (f" ({len(skipped)} files skipped: {skipped[0]})" if skipped else ""))
    files = render_gallery(traces, lang=args.lang)
    changed = write_gallery(args.output, files)
    print(f"{len(traces)} reports and an index in {args.output / 'index.html'}, {len(changed)} files written")
    if skipped:
        print(f"{len(skipped)} files skipped, not captures pulltrace reads; the first: {skipped[0]}")
    return Exit.OK
