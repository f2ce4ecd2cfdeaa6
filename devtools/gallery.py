"""The report gallery: every trace under samples/ rendered to reports/ as HTML
and Markdown, plus reports/index.html. Deterministic (no "now", no absolute
path), so a test can re-render in memory and say when reports/ is stale.

    python -m devtools.gallery [--samples DIR] [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pulltrace.commands.load import load_trace
from pulltrace.commands.main import Exit, fail
from pulltrace.errors import UserError
from pulltrace.model import Trace, write_atomically
from pulltrace.render import fmt
from pulltrace.render.html import page, render_html
from pulltrace.render.markdown import render_markdown

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
REPORTS = ROOT / "reports"
_MANAGED_SUFFIXES = (".html", ".md")


@dataclass(frozen=True)
class Entry:
    name: str
    sample: str
    images: str
    sessions: int
    steps: int
    findings: int
    duration: str


def sample_files(samples: Path) -> list[Path]:
    return sorted(p for p in samples.rglob("*.json") if p.is_file())


def report_name(sample: Path, samples: Path) -> str:
    """samples/seeds/000-daocloud.json -> seeds-000-daocloud"""
    return "-".join(sample.relative_to(samples).with_suffix("").parts)


def _entry(name: str, rel: str, trace: Trace) -> Entry:
    return Entry(
        name=name,
        sample=rel,
        images=", ".join(dict.fromkeys(s.summary.image for s in trace.sessions if s.summary.image)),
        sessions=len(trace.sessions),
        steps=sum(len(s.steps) for s in trace.sessions),
        findings=sum(len(s.findings) for s in trace.sessions),
        duration=fmt.human_ms(sum(s.summary.duration_ms for s in trace.sessions)),
    )


def render_gallery(samples: Path = SAMPLES, *, lang: str = "en") -> dict[str, str]:
    """File name -> content of every report the samples make, index.html included."""
    files: dict[str, str] = {}
    entries = []
    for sample in sample_files(samples):
        name = report_name(sample, samples)
        trace = load_trace([sample])
        files[f"{name}.html"] = render_html(trace, lang=lang)
        files[f"{name}.md"] = render_markdown(trace, lang=lang)
        entries.append(_entry(name, sample.relative_to(samples).as_posix(), trace))
    files["index.html"] = page("gallery.html", lang=lang, entries=entries)
    return files


def stale_files(out: Path, files: dict[str, str]) -> list[str]:
    """Names whose file in `out` differs from `files`, is missing, or is left over."""
    stale = [name for name, text in files.items() if _read(out / name) != text]
    if out.is_dir():
        stale += sorted(
            p.name for p in out.iterdir() if p.suffix in _MANAGED_SUFFIXES and p.name not in files
        )
    return stale


def _read(path: Path) -> str | None:
    # Bytes, not read_text: universal newlines would turn the CRLF of a recorded body
    # (nginx's HTML error pages) into LF, and a fresh report would always look stale.
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None


def write_gallery(out: Path, files: dict[str, str]) -> list[str]:
    """Write changed reports atomically and remove reports no sample makes any more."""
    out.mkdir(parents=True, exist_ok=True)
    changed = stale_files(out, files)
    for name in changed:
        if name in files:
            write_atomically(out / name, files[name])
        else:
            (out / name).unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gallery", description="Render samples/**/*.json into reports/.")
    parser.add_argument("--samples", type=Path, default=SAMPLES, help="folder of sample traces (default: samples/)")
    parser.add_argument("--out", type=Path, default=REPORTS, help="folder for the reports (default: reports/)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when reports/ is stale")
    args = parser.parse_args(argv)
    try:
        if not args.samples.is_dir():
            raise UserError(f"{args.samples}: no such folder of samples")
        files = render_gallery(args.samples)
        if args.check:
            stale = stale_files(args.out, files)
            if stale:
                return fail(f"reports are stale: {', '.join(stale)}; run scripts/gallery")
            return Exit.OK
        changed = write_gallery(args.out, files)
    except UserError as e:
        return fail(str(e))
    print(f"{len(files)} reports in {args.out}, {len(changed)} updated")
    return Exit.OK


if __name__ == "__main__":
    sys.exit(main())
