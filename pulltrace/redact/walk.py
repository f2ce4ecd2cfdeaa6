"""Masking a whole model: every string of every dataclass, list, tuple and dict.

The walk is generic on purpose: it reads no field names, so a field added to the
model tomorrow is masked too. Rules that need a name come from the data itself: a
dict's key (`{"token": …}` in a step's facts), a `(name, value)` tuple (a header).
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any, TypeVar

from pulltrace.model import Exchange, Trace
from pulltrace.redact.claims import with_claims
from pulltrace.redact.jsontext import mask_secret_value
from pulltrace.redact.names import is_secret_key
from pulltrace.redact.shapes import ELLIPSIS
from pulltrace.redact.text import mask_header_value, mask_text

T = TypeVar("T")

# Deeper than any model pulltrace builds; a hostile trace nested deeper (JSON 1,200
# levels down in a step's facts) is cut here rather than overflowing the stack.
MAX_DEPTH = 64
TOO_DEEP = f"{ELLIPSIS}(nested too deep)"


def mask_value(value: T) -> T:
    """A masked copy of any model value (the input is never changed).

    Every Exchange of the copy is stamped as this pass's output, so a view that masks
    again (`mask_exchange`) before rendering it skips the second walk; an Exchange that
    already carries such a stamp (masked on arrival, unchanged since) is kept as it is."""
    masked: T = _walk(value, 0)
    return masked


def mask_exchange(ex: Exchange) -> Exchange:
    """A copy of `ex` with every secret masked and token claims kept for display; `ex`
    itself when it is a masking pass's output, unchanged since (nothing left to mask)."""
    masked: Exchange = _walk(ex, 0)
    return masked


def finish_exchange(ex: Exchange, *, show_secrets: bool) -> Exchange:
    """What an exchange goes through before the model sees it: a token's claims decoded and
    credential prints taken while the secrets are known, then every secret masked (unless
    the user asked to see them). A second pass over a masked exchange changes nothing."""
    if show_secrets:
        return with_claims(ex)
    return mask_exchange(ex)


# The stamp a masking pass leaves on each Exchange it produced: the field values it
# wrote, held (so no other object can take their ids) and compared by identity, and the
# header lists' lengths. A field assigned since, or a header added, fails the check.
_STAMP = "_masked_as"


def _stamp(ex: Exchange) -> None:
    d = ex.__dict__
    d[_STAMP] = (tuple(d[name] for name in _names_of(ex)), len(ex.request_headers),
                 len(ex.response_headers))


def _stamped(ex: Exchange) -> bool:
    d = ex.__dict__
    stamp = d.get(_STAMP)
    if stamp is None or not ex.secrets_masked:
        return False
    values, requests, responses = stamp
    if len(ex.request_headers) != requests or len(ex.response_headers) != responses:
        return False
    names = _names_of(ex)
    return len(names) == len(values) and all(d[name] is value for name, value in zip(names, values, strict=True))


def mask_trace(trace: Trace) -> Trace:
    """A masked deep copy of `trace`, whatever its `secrets_masked` flags claim (a flag is no
    stamp: only an Exchange a masking pass produced, unchanged since, is kept, and shared).

    The final pass of every output: summaries, findings, step facts, notes, headers,
    previews. Claims are decoded from token bodies first, so scopes granted stay visible.
    """
    return mask_value(trace)


_ATOMS = frozenset({int, float, bool, type(None)})


def _walk(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is str:
        masked = mask_text(value)
        return value if masked == value else masked
    if kind in _ATOMS:
        return value
    if isinstance(value, str):
        masked = mask_text(value)
        return value if masked == value else masked
    if isinstance(value, (bool, int, float)):
        return value
    if depth > MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, Exchange):
        # Every step of a finished pull was masked on arrival: nothing left to walk.
        return value if _stamped(value) else _walk_exchange(with_claims(value), depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = _shallow_copy(value)
        for name in _field_names(type(value)):
            object.__setattr__(out, name, _walk(getattr(value, name), depth + 1))
        if isinstance(getattr(out, "secrets_masked", None), bool):
            object.__setattr__(out, "secrets_masked", True)
        return out
    if isinstance(value, tuple):
        if len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], str):
            return (mask_text(value[0]), mask_header_value(value[0], value[1]))
        items = [_walk(v, depth + 1) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, list):
        if value and all(_is_pair_list(v) for v in value):  # headers as JSON lists
            return [[mask_text(k), mask_header_value(k, v)] for k, v in value]
        return [_walk(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {_walk(k, depth + 1): _walk_dict_value(k, v, depth + 1) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return type(value)(_walk(v, depth + 1) for v in value)
    return value


def _walk_exchange(ex: Exchange, depth: int) -> Exchange:
    """The walk of one Exchange, the model's most common value (every flow of a capture,
    every step of a pull): its strings and header lists masked without the generic
    dispatch; any field of another shape (a hand-made or loaded trace) takes the walk."""
    out = _shallow_copy(ex)
    d = out.__dict__
    d.pop(_STAMP, None)
    for name in _names_of(ex):
        value = d[name]
        kind = type(value)
        if kind is str:
            masked = mask_text(value)
            if masked != value:
                d[name] = masked
        elif kind in _ATOMS:
            pass
        elif kind is list and all(type(h) is tuple and len(h) == 2 and type(h[0]) is str and type(h[1]) is str
                                  for h in value):
            d[name] = [(mask_text(k), mask_header_value(k, v)) for k, v in value]
        else:
            d[name] = _walk(value, depth + 1)
    d["secrets_masked"] = True
    _stamp(out)
    return out


def _shallow_copy(value: Any) -> Any:
    """copy.copy for a dataclass instance, without the pickle protocol's cost."""
    out = object.__new__(type(value))
    if hasattr(value, "__dict__"):
        out.__dict__.update(value.__dict__)
    return out


def _names_of(obj: Any) -> tuple[str, ...]:
    return _field_names(obj.__class__)


@lru_cache(maxsize=256)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _walk_dict_value(key: Any, value: Any, depth: int) -> Any:
    if isinstance(key, str) and isinstance(value, str) and value and is_secret_key(key):
        return mask_secret_value(key, value)
    return _walk(value, depth)


def _is_pair_list(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
