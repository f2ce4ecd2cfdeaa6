"""Terminal width of a cell: a Chinese label takes two columns a character, "·" and "→" one."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pulltrace.render.fmt import display_width


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def test_wide_and_narrow_characters():
    assert display_width("layer 2/3 · CDN → edge") == 22
    assert display_width("镜像 layer") == 10
    assert display_width("ｱ全角") == 5  # halfwidth katakana is narrow, fullwidth forms are wide


@settings(max_examples=300)
@given(st.text())
@example("\u0a77")  # below U+1100, and wide in Python 3.11's Unicode tables
def test_every_character_is_counted_by_its_east_asian_width(text):
    assert display_width(text) == _columns(text)
