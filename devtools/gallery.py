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
from pulltrace.redact import mask_trace
from pulltrace.render.gallery import gallery_entry
from pulltrace.render.gallery import render_gallery as render_traces
from pulltrace.render.html import page
from pulltrace.render.i18n import LANGUAGES
from pulltrace.render.outputs import render

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
REPORTS = ROOT / "reports"
# The seed flows as teaching handouts (`--explain`, issue 16), in every language.
EXPLAINED = "explained"


def sample_files(samples: Path) -> list[Path]:
    return sorted(p for p in samples.rglob("*.json") if p.is_file())


def report_name(sample: Path, samples: Path) -> str:
    """samples/seeds/000-daocloud.json -> seeds-000-daocloud"""
    return user_gallery.report_name(sample, samples)


def render_gallery(samples: Path = SAMPLES, *, lang: str = "en") -> dict[str, str]:
    """File name -> content of every report the samples make, index.html included, and the
    seed flows explained under explained/."""
    traces, _ = user_gallery.load_folder([samples], strict=True)
    return {**render_traces(traces, lang=lang), **explained_files(samples)}


def explained_files(samples: Path = SAMPLES) -> dict[str, str]:
    """`explained/seeds-<name>.<lang>.html|md` for each seed flow and language, and an index."""
    seeds = samples / "seeds"
    if not seeds.is_dir():
        return {}
    traces, _ = user_gallery.load_folder([seeds], strict=True)
    files: dict[str, str] = {}
    entries = []
    for name, label, trace in traces:
        masked = mask_trace(trace)  # the dispatcher's final pass, once for every language and format
        for lang in LANGUAGES:
            stem = f"seeds-{name}.{lang}"
            files[f"{EXPLAINED}/{stem}.html"] = render(masked, "html", lang=lang, explain=True, show_secrets=True)
            files[f"{EXPLAINED}/{stem}.md"] = render(masked, "md", lang=lang, explain=True, show_secrets=True)
            entries.append(gallery_entry(stem, f"seeds/{label} ({lang})", masked))
    files[f"{EXPLAINED}/index.html"] = page("gallery.html", lang="en", entries=entries)
    return files


def stale_files(out: Path, files: dict[str, str]) -> list[str]:
    """Names whose file in `out` differs from `files`, is missing, or is left over."""
    stale = user_gallery.stale_files(out, files, leftovers=True)
    explained = out / EXPLAINED
    if explained.is_dir():
        stale += sorted(f"{EXPLAINED}/{p.name}" for p in explained.iterdir()
                        if p.suffix in user_gallery.MANAGED_SUFFIXES and f"{EXPLAINED}/{p.name}" not in files)
    return stale


def write_gallery(out: Path, files: dict[str, str]) -> list[str]:
    """Write changed reports atomically and remove reports no sample makes any more."""
    if any(name.startswith(f"{EXPLAINED}/") for name in files):
        (out / EXPLAINED).mkdir(parents=True, exist_ok=True)
    changed = user_gallery.write_gallery(out, files, remove_leftovers=True)
    for name in stale_files(out, files):
        if name not in files:  # an explained report no seed makes any more
            (out / name).unlink()
            changed.append(name)
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
