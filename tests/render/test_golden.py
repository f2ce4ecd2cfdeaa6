"""Terminal and Markdown output of the seed samples, compared with golden files.
Regenerate: PULLTRACE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/render/test_golden.py"""

import os
from pathlib import Path

import pytest
from render_factory import hub_alpine_trace, seed000_trace

from pulltrace.model import Trace, load_trace
from pulltrace.render.fmt import display_width
from pulltrace.render.markdown import render_markdown
from pulltrace.render.text import render_text

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PULLTRACE_UPDATE_GOLDEN") == "1"

VIEWS = {
    "txt": lambda t: render_text(t),
    "zh.txt": lambda t: render_text(t, lang="zh"),
    "md": lambda t: render_markdown(t),
    "zh.md": lambda t: render_markdown(t, lang="zh"),
}


def _samples() -> dict[str, object]:
    found: dict[str, object] = {"factory-seed000": seed000_trace, "factory-hub-alpine": hub_alpine_trace}
    for path in sorted((ROOT / "samples" / "seeds").glob("*.json")):
        found[f"seeds-{path.stem}"] = path
    return found


SAMPLES = _samples()


def _load(source) -> Trace:
    return load_trace(source) if isinstance(source, Path) else source()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_terminal_output_fits_80_columns(name):
    trace = _load(SAMPLES[name])
    for lang in ("en", "zh"):
        lines = render_text(trace, lang=lang).splitlines()
        assert [line for line in lines if display_width(line) > 80] == []


@pytest.mark.parametrize("view", sorted(VIEWS))
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_golden(name, view):
    actual = VIEWS[view](_load(SAMPLES[name]))
    golden = GOLDEN / f"{name}.{view}"
    beside = golden.with_name(golden.name + ".actual")
    if UPDATE:
        golden.write_text(actual, encoding="utf-8")
        beside.unlink(missing_ok=True)
        return
    expected = golden.read_text(encoding="utf-8") if golden.exists() else None
    if actual != expected:
        beside.write_text(actual, encoding="utf-8")
        what = "missing" if expected is None else "differs"
        pytest.fail(f"{golden.name} {what}; new output in {beside.name}; see {GOLDEN / 'README.md'}")
    beside.unlink(missing_ok=True)


def test_goldens_have_samples():
    """A golden whose sample is gone is stale too."""
    known = {f"{name}.{view}" for name in SAMPLES for view in VIEWS}
    orphans = sorted(p.name for p in GOLDEN.iterdir() if p.suffix in (".txt", ".md") and p.name not in known
                     and p.name != "README.md")
    assert orphans == []
