"""The repository's report gallery: every trace under samples/ rendered to reports/ (HTML and
Markdown, plus reports/index.html), the way `pulltrace gallery` renders a user's captures.
`--check` writes nothing and fails when reports/ is stale (a test runs it).

    python -m devtools.gallery [--samples DIR] [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pulltrace.commands import gallery as user_gallery
from pulltrace.commands.main import Exit, fail
from pulltrace.errors import UserError
from pulltrace.render.gallery import render_gallery as render_traces

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
REPORTS = ROOT / "reports"


def sample_files(samples: Path) -> list[Path]:
    return sorted(p for p in samples.rglob("*.json") if p.is_file())


def report_name(sample: Path, samples: Path) -> str:
    """samples/seeds/000-daocloud.json -> seeds-000-daocloud"""
    return user_gallery.report_name(sample, samples)


def render_gallery(samples: Path = SAMPLES, *, lang: str = "en") -> dict[str, str]:
    """File name -> content of every report the samples make, index.html included."""
    traces, _ = user_gallery.load_folder([samples], strict=True)
    return render_traces(traces, lang=lang)


def stale_files(out: Path, files: dict[str, str]) -> list[str]:
    """Names whose file in `out` differs from `files`, is missing, or is left over."""
    return user_gallery.stale_files(out, files, leftovers=True)


def write_gallery(out: Path, files: dict[str, str]) -> list[str]:
    """Write changed reports atomically and remove reports no sample makes any more."""
    return user_gallery.write_gallery(out, files, remove_leftovers=True)


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
