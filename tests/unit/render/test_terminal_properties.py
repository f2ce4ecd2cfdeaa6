"""Whatever text the wire carries, the terminal views print no control character a
terminal would act on, and a Markdown table row stays one row with its cells."""

import re
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from render_factory import seed000_trace

from pulltrace.model import Finding, Severity
from pulltrace.render import fmt
from pulltrace.render.markdown import render_markdown
from pulltrace.render.text import render_text

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Controls, bidi controls, Markdown's table and code marks, HTML: what a registry might send.
HOSTILE = st.text(alphabet=st.sampled_from(list("\x1b\x07\r\n\x08\x9b\x00\x7f\u202e\u2066\u2028|`*_[]<>&\\ a:/中"))
                  | st.characters(), max_size=30)
BIDI = {"\u061c", "\u200e", "\u200f", "\u2028", "\u2029",
        *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}


def _acted_on(text: str) -> list[str]:
    return [c for c in text if c not in "\n" and (unicodedata.category(c) == "Cc" or c in BIDI)]


@SETTINGS
@given(HOSTILE)
def test_terminal_safe_leaves_nothing_a_terminal_acts_on(text):
    shown = fmt.terminal_safe(text)
    assert [c for c in shown if unicodedata.category(c) == "Cc" or c in BIDI] == []
    page = fmt.terminal_safe(text, keep_newlines=True)
    assert _acted_on(page.replace("\r\n", "\n")) == []


def _hostile_trace(text: str):
    trace = seed000_trace()
    step = trace.sessions[0].steps[0]
    step.exchange.reason = text
    step.exchange.url = "https://daocloud.io/v2/" + text
    step.exchange.response_headers.append(("Www-Authenticate", text))
    trace.sessions[0].summary.image = text
    trace.sessions[0].findings.append(Finding("wire", Severity.ERROR, text, text, text, [step.id]))
    trace.notes.append(text)
    return trace


@SETTINGS
@given(HOSTILE, st.booleans())
def test_text_view_prints_no_control_from_the_wire(text, wide):
    out = render_text(_hostile_trace(text), wide=wide)
    assert _acted_on(out) == []


@SETTINGS
@given(HOSTILE)
def test_markdown_step_rows_keep_their_five_cells(text):
    out = render_markdown(_hostile_trace(text))
    assert _acted_on(out.replace("\r\n", "\n")) == []
    rows = [line for line in out.splitlines() if line.startswith("| [")]
    assert len(rows) == len(seed000_trace().sessions[0].steps)
    for row in rows:
        # Cell separators are the pipes not escaped by a backslash (and not in an entity).
        assert len(re.findall(r"(?<!\\)\|", row)) == 6, row
