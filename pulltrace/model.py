"""The one model every source fills and every view reads.

Exchange (wire facts) -> Step (what it means) -> Session (one pull) -> Finding
(a diagnosis), all held by a Trace that serialises to versioned JSON.

This module imports nothing of pulltrace's own but its error type and bounded JSON reader:
sources and views depend on it, never the other way round.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import operator
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeAlias

from pulltrace import jsonbound
from pulltrace.errors import UserError

SCHEMA_NAME = "pulltrace-trace"
SCHEMA_VERSION = 2
# The largest response preview read as JSON (manifests are capped at 4 MiB by containerd).
RESPONSE_JSON_MAX_BYTES = 8 * 1024 * 1024
# Version 1 marked a failed step kind "error" and kept its meaning in `info["intended"]`;
# it is still read (and upgraded: the kind is restored, the failure moves to `Step.error`).
READABLE_VERSIONS = frozenset({1, 2})

Headers = list[tuple[str, str]]
# A JSON value, as a token's decoded claims hold them.
JSONValue: TypeAlias = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]
# The claims of a JWT a token service issued, decoded unverified (`sub`, `access`, `exp`, …).
Claims: TypeAlias = dict[str, JSONValue]
# What credential a request carried: none, Basic credentials (a token request's or a
# `docker login` ping's), or an OAuth2 password or refresh-token grant.
CredentialKind: TypeAlias = Literal["anonymous", "basic", "password", "refresh_token"]
CREDENTIAL_KINDS: dict[str, CredentialKind] = {
    "anonymous": "anonymous", "basic": "basic", "password": "password", "refresh_token": "refresh_token",
}


class TraceFormatError(UserError, ValueError):
    """A trace file that is not pulltrace trace JSON of a version this code reads; its
    message is one line that says what is wrong and what to do."""


class StepKind(StrEnum):
    """What an exchange means in the registry protocol."""

    PING = "ping"
    TOKEN = "token"
    LOGIN = "login"
    MANIFEST_INDEX = "manifest-index"
    MANIFEST = "manifest"
    MANIFEST_HEAD = "manifest-head"
    CONFIG_BLOB = "config-blob"
    LAYER_BLOB = "layer-blob"
    BLOB_REDIRECT = "blob-redirect"
    CDN_DOWNLOAD = "cdn-download"
    UPLOAD = "upload"
    CATALOG = "catalog"
    # A connection or TLS failure before any request line (mitmproxy's server_connect_error).
    CONNECTION = "connection"
    # Only in version-1 traces and hand-made steps: a failure whose meaning was lost. A failed
    # step keeps its kind and says what failed in `Step.error`.
    ERROR = "error"
    OTHER = "other"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass
class Timings:
    """Milliseconds per phase, HAR style; None where the source did not see it.

    `connect_ms`/`tls_ms` are the setup that fell inside this request's time; `early_*` the
    setup of its connection done before the request started (mitmproxy's default eager
    strategy connects at CONNECT time), which is no part of `duration_ms`."""

    connect_ms: float | None = None
    tls_ms: float | None = None
    send_ms: float | None = None
    wait_ms: float | None = None
    receive_ms: float | None = None
    # Written only when recorded, so traces of exchanges without them read as before.
    early_connect_ms: float | None = field(default=None, metadata={"omit_none": True})
    early_tls_ms: float | None = field(default=None, metadata={"omit_none": True})


@dataclass(frozen=True)
class CredentialPrints:
    """Fingerprints of the credentials one exchange carried: the token auth spec's own link
    between a token response and every request that presents its token. Two programs on one
    host with one User-Agent asking for one scope (two `skopeo copy` at once, dockerd pulling
    two tags) differ only here.

    Each print is a keyed hash, truncated, with a key made once per process and never
    written (`pulltrace.redact.prints`): it links exchanges read by one process and says
    nothing about the secret, not even whether two traces saw the same token.
    """

    presented: str | None = None  # the request's Authorization credential (Bearer or Basic)
    issued: frozenset[str] = frozenset()  # the tokens a token response's body issued


@dataclass
class Exchange:
    """One HTTP request and its response as seen on the wire. Never a blob body."""

    id: str
    method: str
    url: str
    started_at: float
    request_headers: Headers = field(default_factory=list)
    status: int | None = None
    reason: str = ""
    response_headers: Headers = field(default_factory=list)
    http_version: str = "HTTP/1.1"
    client: str = ""
    server: str = ""
    request_body_preview: str | None = None
    response_body_preview: str | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    body_sha256: str | None = None
    duration_ms: float | None = None
    timings: Timings = field(default_factory=Timings)
    error: str | None = None
    secrets_masked: bool = True
    # Claims of a JWT this response issued, decoded (unverified) before the token was
    # masked, so scopes granted stay visible when the token itself is not.
    token_claims: dict[str, Any] | None = None
    # Which credential the request presented and which tokens the response issued, as
    # fingerprints taken before masking (None: not known, e.g. a trace read back). Only the
    # engine reads them; no output writes them (`"json": None`).
    prints: CredentialPrints | None = field(default=None, repr=False, compare=False, metadata={"json": None})

    def request_header(self, name: str) -> str | None:
        """First value of a request header, matched case-insensitively."""
        d = self.__dict__
        cached = d.get("_request_headers_index")
        headers = d["request_headers"]
        if cached is None or cached[0] is not headers or cached[1] != len(headers):
            cached = d["_request_headers_index"] = _header_index(headers)
        values = cached[2].get(name.lower())
        return values[0] if values else None

    def response_header(self, name: str) -> str | None:
        """First value of a response header, matched case-insensitively."""
        values = self._response_index().get(name.lower())
        return values[0] if values else None

    def response_header_all(self, name: str) -> list[str]:
        """Every value of a response header (WWW-Authenticate may repeat)."""
        return list(self._response_index().get(name.lower(), ()))

    def _response_index(self) -> dict[str, list[str]]:
        d = self.__dict__
        cached = d.get("_response_headers_index")
        headers = d["response_headers"]
        if cached is None or cached[0] is not headers or cached[1] != len(headers):
            cached = d["_response_headers_index"] = _header_index(headers)
        return cached[2]

    def drop_caches(self) -> None:
        """Forget what was parsed off this exchange (header indexes, a manifest, challenges):
        a finished pull keeps its facts, not their working copies."""
        d = self.__dict__
        for key in _CACHE_KEYS:
            d.pop(key, None)

    def response_json(self) -> dict[str, Any] | None:
        """The response preview as a JSON object (manifest, token, error), else None."""
        text = self.response_body_preview
        if not text or not text.lstrip().startswith("{"):
            return None
        try:
            # Bounded: a registry's body nested 1,200 deep must not reach Python's recursion limit.
            data = jsonbound.loads(text, max_bytes=RESPONSE_JSON_MAX_BYTES, what="response body")
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def content_type(self) -> str | None:
        value = self.response_header("content-type")
        return value.split(";")[0].strip().lower() if value else None


# What Exchange and its readers cache in the instance's __dict__ (never a dataclass field,
# so never serialised): header indexes, the parsed manifest, the parsed challenges.
_CACHE_KEYS = (
    "_request_headers_index", "_response_headers_index", "_parsed_manifest", "_challenges", "_challenge_read",
    "_prints",
)


def _header_index(headers: Headers) -> tuple[Headers, int, dict[str, list[str]]]:
    """Headers by lowercased name, built once per header list (every rule asks for some);
    kept with the list it indexes and its length, so a replaced or grown list is indexed again."""
    index: dict[str, list[str]] = {}
    for name, value in headers:
        index.setdefault(name.lower(), []).append(value)
    return headers, len(headers), index


def _header(headers: Headers, name: str) -> str | None:
    lname = name.lower()
    for key, value in headers:
        if key.lower() == lname:
            return value
    return None


@dataclass
class Link:
    """A relation from one step to another, by exchange id.

    rel is one of: "follows" (this CDN download follows that redirect),
    "redirects-to", "answers" (this token answered that challenge),
    "retried-by", "retries", "chosen-from" (this manifest was chosen from that
    index), "chooses", "blob-of" (this blob is named by that manifest).
    """

    rel: str
    target: str
    note: str = ""


@dataclass(slots=True)
class StepFacts:
    """What the classifier learnt about one step, each fact a typed field; None (False,
    for `offline_token`) where the step does not have it.

    One flat value rather than a group per kind, because the protocol's facts cross kinds:
    a digest names a manifest, a blob, a redirect hop and a CDN download alike; `registry`
    belongs to every /v2/ step and to the token that answered its challenge;
    `credential_kind` to a token request and to a `docker login` ping; `location` to any
    redirect. Grouped, every reader of a digest or a registry would first ask which group
    holds it; flat, `step.facts.digest` is one attribute whatever the kind, and mypy checks
    each use. Slots: every exchange of a capture gets one, so it has no per-instance dict,
    and reading a fact is an attribute load, cheaper than the dict look-up it replaced.

    A trace writes it as the step's `"info"` object, with a key per fact it has (see
    `facts_to_dict`); the field names are those keys.
    """

    # -- where: which registry, and what the wire said about places
    registry: str | None = None  # host[:port][/prefix] the user pulled from (`registry_of`)
    served_by: str | None = None  # the registry that answered a manifest redirected to it
    ns: str | None = None  # containerd/cri-o mirrors: `?ns=<upstream registry>`
    location: str | None = None  # a redirect's Location, made absolute
    # -- what: manifests and blobs
    digest: str | None = None  # of the manifest or blob the step is about
    by: Literal["tag", "digest"] | None = None  # how a manifest request named its manifest
    media_type: str | None = None  # of a manifest the registry returned (its Content-Type)
    media_type_from: str | None = None  # id of the manifest HEAD that said it (the GET got none)
    platforms: list[str] | None = None  # an index's platforms (`linux/arm64/v8`)
    layers: int | None = None  # how many layers a manifest lists
    platform: str | None = None  # the platform a manifest was chosen for from its index
    expected_media_type: str | None = None  # of a blob, as its manifest lists it
    expected_size: int | None = None  # of a blob, as its manifest lists it
    # -- auth: the challenge, and the token request and its answer
    challenge: dict[str, str] | None = None  # a 401's first challenge: scheme and parameters
    credential_kind: CredentialKind | None = None
    realm: str | None = None  # set on every token request (the URL it went to, no query)
    service: str | None = None  # the token request's `service`
    scopes: list[str] | None = None  # the scopes it asked for (none for a `docker login`)
    account: str | None = None
    client_id: str | None = None
    offline_token: bool = False  # asked for a refresh token (`docker login`)
    grant_type: str | None = None  # an OAuth2 POST's grant
    expires_in: int | float | None = None  # the token body's lifetime, seconds
    issued_at: str | None = None  # the token body's RFC 3339 time
    fields: list[str] | None = None  # the token body's non-empty fields, sorted
    claims: Claims | None = None  # the issued JWT's claims (decoded before it was masked)


# The order a trace writes a step's facts in: the order the classifier learns them, so traces
# written before the facts were typed read back byte for byte. A token request's come first,
# then where it went; any other step's start with its registry.
_TOKEN_FACTS = ("realm", "service", "scopes", "credential_kind", "account", "client_id", "offline_token",
                "grant_type", "expires_in", "issued_at", "fields", "claims")
_PLACE_FACTS = ("registry", "served_by", "credential_kind", "by", "media_type_from", "platforms", "layers",
                "media_type", "digest", "challenge", "location", "expected_media_type", "expected_size", "platform")


def _order(first: tuple[str, ...]) -> tuple[str, ...]:
    names = [f.name for f in dataclasses.fields(StepFacts)]
    seen = ("ns", *first)
    return (*dict.fromkeys(seen), *(n for n in names if n not in seen))


_FACT_ORDER_TOKEN = _order((*_TOKEN_FACTS, "location", "registry"))
_FACT_ORDER = _order(_PLACE_FACTS)

_FACTS_TOKEN = operator.attrgetter(*_FACT_ORDER_TOKEN)
_FACTS = operator.attrgetter(*_FACT_ORDER)


def facts_to_dict(facts: StepFacts) -> dict[str, Any]:
    """A step's facts as the trace's `"info"` object: a key per fact the step has. A token
    request always says its `service`, null when it named none."""
    if facts.realm is None:
        return {name: value for name, value in zip(_FACT_ORDER, _FACTS(facts), strict=True)
                if value is not None and value is not False}
    return {name: value for name, value in zip(_FACT_ORDER_TOKEN, _FACTS_TOKEN(facts), strict=True)
            if (value is not None and value is not False) or name == "service"}


@dataclass
class Step:
    """An exchange plus what it means: its kind, its links, its role and its facts."""

    exchange: Exchange
    kind: StepKind = StepKind.OTHER
    index: int = 0
    repository: str | None = None
    reference: str | None = None
    role: str | None = None
    links: list[Link] = field(default_factory=list)
    # Written as the step's "info" object (the name traces have always used).
    facts: StepFacts = field(default_factory=StepFacts, metadata={"json": "info"})
    # What failed, in one line (`404 GET /v2/x/manifests/1: MANIFEST_UNKNOWN`); None when the
    # step did what it asked. A failed manifest request is still a manifest request.
    error: str | None = None

    @property
    def id(self) -> str:
        return self.exchange.id

    def linked(self, rel: str) -> list[str]:
        return [link.target for link in self.links if link.rel == rel]


@dataclass
class Finding:
    """A diagnosis: what went wrong or is risky, on which steps, why, and the fix."""

    rule: str
    severity: Severity
    title: str
    cause: str
    fix: str
    steps: list[str] = field(default_factory=list)


@dataclass
class SessionSummary:
    image: str = ""
    registry: str = ""
    platform: str | None = None
    manifest_digest: str | None = None
    auth: str = "none"
    scopes_requested: list[str] = field(default_factory=list)
    scopes_granted: list[str] = field(default_factory=list)
    token_claims: dict[str, Any] = field(default_factory=dict)
    layers: int = 0
    layers_fetched: int = 0
    bytes: int = 0
    duration_ms: float = 0.0
    skipped_blobs: list[str] = field(default_factory=list)
    mirror: str | None = None
    fallback: str | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Session:
    """The steps of one pull (one image reference, one client)."""

    id: str
    action: str = "pull"
    client: str = ""
    steps: list[Step] = field(default_factory=list)
    summary: SessionSummary = field(default_factory=SessionSummary)
    findings: list[Finding] = field(default_factory=list)
    # The machine that saw the pull (the addon's pulltrace_node, else its hostname); a
    # fleet report groups by it. Empty when the source does not say.
    node: str = ""

    def step(self, exchange_id: str) -> Step | None:
        for step in self.steps:
            if step.id == exchange_id:
                return step
        return None


@dataclass
class Trace:
    """Sessions plus metadata; the unit every view renders."""

    sessions: list[Session] = field(default_factory=list)
    source: str = ""
    created_at: float = 0.0
    tool_version: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The trace's JSON form as plain dicts and lists (what `to_json` writes)."""
        data: dict[str, Any] = json.loads(self.to_json(indent=None))
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps({"schema": SCHEMA_NAME, "version": SCHEMA_VERSION, **json_fields(self)},
                          default=json_fields, indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any) -> Trace:
        """A Trace from its JSON form. Total: anything that is not a trace this code reads
        raises TraceFormatError with a one-line message, never another exception."""
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_NAME:
            raise TraceFormatError(
                "not a pulltrace trace (no \"schema\": \"pulltrace-trace\"); pass a trace written by pulltrace, "
                "or the capture itself (a .flow or HAR file)"
            )
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version not in READABLE_VERSIONS:
            raise TraceFormatError(
                f"trace schema version {version!r} is not supported (this pulltrace reads versions "
                f"{', '.join(map(str, sorted(READABLE_VERSIONS)))}); upgrade pulltrace, or rebuild the trace "
                "from its capture with `pulltrace report CAPTURE`"
            )
        try:
            return _Reader(int(version)).trace(data)
        except TraceFormatError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
            raise TraceFormatError(f"malformed trace: {_one_line(e)}; rebuild it from its capture with "
                                   "`pulltrace report CAPTURE`") from e

    @classmethod
    def from_json(cls, text: str) -> Trace:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise TraceFormatError(f"not JSON: {e.msg} at line {e.lineno}; pass a trace written by pulltrace") from e
        except RecursionError as e:
            raise TraceFormatError("not a pulltrace trace: JSON nested too deeply") from e
        return cls.from_dict(data)

    def all_steps(self) -> Iterable[Step]:
        for session in self.sessions:
            yield from session.steps


def json_fields(obj: object) -> dict[str, Any]:
    """A model value's JSON object, for `json.dumps(default=json_fields)`: its fields under
    their JSON names (a step's facts as `"info"`, with a key per fact it has), values as
    they are. No deep copy first: the encoder walks the model itself."""
    if isinstance(obj, StepFacts):
        return facts_to_dict(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {key: value for key, name, omit_none in _json_names(type(obj))
                if (value := getattr(obj, name)) is not None or not omit_none}
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


@functools.lru_cache(maxsize=64)
def _json_names(cls: type) -> tuple[tuple[str, str, bool], ...]:
    # A field whose JSON name is None stays in memory only (Exchange.prints).
    return tuple((f.metadata.get("json", f.name), f.name, bool(f.metadata.get("omit_none")))
                 for f in dataclasses.fields(cls) if f.metadata.get("json", f.name) is not None)


def exchange_from_dict(d: dict[str, Any]) -> Exchange:
    """An Exchange from its JSON form (as in a trace's steps, or a list of recorded exchanges);
    TraceFormatError when a field is missing or of the wrong type."""
    try:
        return _Reader(SCHEMA_VERSION).exchange(d, "exchange")
    except TraceFormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as e:
        raise TraceFormatError(f"malformed exchange: {_one_line(e)}") from e


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _want_text(value: Any) -> str | None:
    return None if isinstance(value, str) else "not a string"


def _want_int(value: Any) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) else "not an integer"


def _want_number(value: Any) -> str | None:
    return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "not a number"


def _want_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "not true or false"


def _want_texts(value: Any) -> str | None:
    ok = isinstance(value, list) and all(isinstance(x, str) for x in value)
    return None if ok else "not a list of strings"


def _want_text_map(value: Any) -> str | None:
    ok = isinstance(value, dict) and all(isinstance(x, str) for x in value.values())
    return None if ok else "not an object of strings"


def _want_object(value: Any) -> str | None:
    return None if isinstance(value, dict) else "not an object"


def _want_one_of(*allowed: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"not one of {', '.join(allowed)}"
    return check


# How each fact of StepFacts is checked when a trace is read (tests check every field has one).
_FACT_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "registry": _want_text, "served_by": _want_text, "ns": _want_text, "location": _want_text,
    "digest": _want_text, "by": _want_one_of("tag", "digest"), "media_type": _want_text,
    "media_type_from": _want_text, "platforms": _want_texts, "layers": _want_int, "platform": _want_text,
    "expected_media_type": _want_text, "expected_size": _want_int, "challenge": _want_text_map,
    "credential_kind": _want_one_of(*CREDENTIAL_KINDS), "realm": _want_text, "service": _want_text,
    "scopes": _want_texts, "account": _want_text, "client_id": _want_text, "offline_token": _want_bool,
    "grant_type": _want_text, "expires_in": _want_number, "issued_at": _want_text, "fields": _want_texts,
    "claims": _want_object,
}

_EXCHANGE_STR = ("id", "method", "url")
_EXCHANGE_OPT_STR = ("reason", "http_version", "client", "server", "request_body_preview",
                     "response_body_preview", "body_sha256", "error")
_EXCHANGE_OPT_INT = ("status", "request_bytes", "response_bytes")
_TIMING_FIELDS = tuple(f.name for f in dataclasses.fields(Timings))
_SUMMARY_FIELDS = {f.name: f for f in dataclasses.fields(SessionSummary)}


class _Reader:
    """Reads a trace's JSON field by field, checking each type, so a malformed file is refused
    with the path of what is wrong (`sessions[0].steps[3].exchange.status: not an integer`)."""

    def __init__(self, version: int) -> None:
        self.version = version

    @staticmethod
    def fail(where: str, what: str) -> TraceFormatError:
        return TraceFormatError(f"malformed trace: {where}: {what}; rebuild it from its capture with "
                                "`pulltrace report CAPTURE`")

    def obj(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "not an object")
        return value

    def array(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "not a list")
        return value

    def text(self, d: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = d.get(key, default)
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", "missing" if value is None else "not a string")
        return value

    def opt_text(self, d: dict[str, Any], key: str, where: str) -> str | None:
        value = d.get(key)
        if value is not None and not isinstance(value, str):
            raise self.fail(f"{where}.{key}", "not a string")
        return value

    def number(self, d: dict[str, Any], key: str, where: str, *, optional: bool = False,
               integer: bool = False) -> Any:
        value = d.get(key)
        if value is None and optional:
            return None
        ok = isinstance(value, int) if integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok:
            raise self.fail(f"{where}.{key}", "not an integer" if integer else "not a number")
        return value

    def headers(self, value: Any, where: str) -> Headers:
        out = []
        for n, pair in enumerate(self.array(value if value is not None else [], where)):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
                raise self.fail(f"{where}[{n}]", "not a [name, value] pair of strings")
            out.append((pair[0], pair[1]))
        return out

    def exchange(self, value: Any, where: str) -> Exchange:
        d = self.obj(value, where)
        timings = self.obj(d.get("timings") or {}, f"{where}.timings")
        claims = d.get("token_claims")
        if claims is not None and not isinstance(claims, dict):
            raise self.fail(f"{where}.token_claims", "not an object")
        masked = d.get("secrets_masked", True)
        if not isinstance(masked, bool):
            raise self.fail(f"{where}.secrets_masked", "not true or false")
        fields: dict[str, Any] = {k: self.text(d, k, where) for k in _EXCHANGE_STR}
        fields.update({k: self.opt_text(d, k, where) for k in _EXCHANGE_OPT_STR if k in d})
        fields.update({k: self.number(d, k, where, optional=True, integer=True) for k in _EXCHANGE_OPT_INT})
        return Exchange(
            **fields,
            started_at=float(self.number(d, "started_at", where)),
            request_headers=self.headers(d.get("request_headers"), f"{where}.request_headers"),
            response_headers=self.headers(d.get("response_headers"), f"{where}.response_headers"),
            duration_ms=self.number(d, "duration_ms", where, optional=True),
            timings=Timings(**{k: self.number(timings, k, f"{where}.timings", optional=True)
                               for k in _TIMING_FIELDS}),
            secrets_masked=masked,
            token_claims=claims,
        )

    def step(self, value: Any, where: str) -> Step:
        d = self.obj(value, where)
        kind_text = self.text(d, "kind", where, "other")
        try:
            kind = StepKind(kind_text)
        except ValueError:
            raise self.fail(f"{where}.kind", f"unknown kind {kind_text!r}") from None
        info = self.obj(d.get("info") or {}, f"{where}.info")
        error = self.opt_text(d, "error", where)
        if self.version == 1 and kind is StepKind.ERROR:
            # Version 1 hid a failed step's kind in info["intended"]: restore it.
            intended = info.get("intended")
            if isinstance(intended, str) and intended in StepKind._value2member_map_:
                kind = StepKind(intended)
            error = error or "failed"
        links = []
        for n, item in enumerate(self.array(d.get("links") or [], f"{where}.links")):
            link = self.obj(item, f"{where}.links[{n}]")
            links.append(Link(self.text(link, "rel", f"{where}.links[{n}]"),
                              self.text(link, "target", f"{where}.links[{n}]"),
                              self.text(link, "note", f"{where}.links[{n}]", "")))
        index = d.get("index", 0)
        if isinstance(index, bool) or not isinstance(index, int):
            raise self.fail(f"{where}.index", "not an integer")
        return Step(exchange=self.exchange(d.get("exchange"), f"{where}.exchange"), kind=kind, index=index,
                    repository=self.opt_text(d, "repository", where), reference=self.opt_text(d, "reference", where),
                    role=self.opt_text(d, "role", where), links=links, facts=self.facts(info, f"{where}.info"),
                    error=error)

    def facts(self, info: dict[str, Any], where: str) -> StepFacts:
        """A step's facts from its "info" object, each checked for its type. A key this code
        does not know is left out (version 1's `intended`, a fact a newer pulltrace adds): the
        views read only the facts they know."""
        facts = StepFacts()
        for key, value in info.items():
            check = _FACT_CHECKS.get(key)
            if check is None:
                continue
            if value is None:
                continue  # written for a token request that named no service; absent otherwise
            what = check(value)
            if what:
                raise self.fail(f"{where}.{key}", what)
            setattr(facts, key, value)
        # The fact was named `credentials` before the final masking pass took that for a secret.
        legacy = info.get("credentials")
        if facts.credential_kind is None and isinstance(legacy, str):
            facts.credential_kind = CREDENTIAL_KINDS.get(legacy)
        return facts

    def finding(self, value: Any, where: str) -> Finding:
        d = self.obj(value, where)
        severity_text = self.text(d, "severity", where)
        try:
            severity = Severity(severity_text)
        except ValueError:
            raise self.fail(f"{where}.severity", f"unknown severity {severity_text!r}") from None
        steps = self.array(d.get("steps") or [], f"{where}.steps")
        if not all(isinstance(x, str) for x in steps):
            raise self.fail(f"{where}.steps", "not a list of step ids")
        return Finding(rule=self.text(d, "rule", where), severity=severity, title=self.text(d, "title", where),
                       cause=self.text(d, "cause", where, ""), fix=self.text(d, "fix", where, ""), steps=list(steps))

    def summary(self, value: Any, where: str) -> SessionSummary:
        d = self.obj(value or {}, where)
        out = SessionSummary()
        for key, item in d.items():
            f = _SUMMARY_FIELDS.get(key)
            if f is None:
                raise self.fail(f"{where}.{key}", "not a summary field")
            default = getattr(out, key)
            if isinstance(default, list):
                if not (isinstance(item, list) and all(isinstance(x, str) for x in item)):
                    raise self.fail(f"{where}.{key}", "not a list of strings")
            elif isinstance(default, dict):
                if not isinstance(item, dict):
                    raise self.fail(f"{where}.{key}", "not an object")
            elif isinstance(default, (int, float)) and not isinstance(default, bool):
                if isinstance(item, bool) or not isinstance(item, (int, float)):
                    raise self.fail(f"{where}.{key}", "not a number")
                item = type(default)(item)
            elif item is not None and not isinstance(item, str):
                raise self.fail(f"{where}.{key}", "not a string")
            setattr(out, key, item)
        return out

    def session(self, value: Any, where: str) -> Session:
        d = self.obj(value, where)
        return Session(
            id=self.text(d, "id", where),
            action=self.text(d, "action", where, "pull"),
            client=self.text(d, "client", where, ""),
            node=self.text(d, "node", where, ""),
            steps=[self.step(s, f"{where}.steps[{n}]") for n, s in enumerate(self.array(d.get("steps") or [],
                                                                                          f"{where}.steps"))],
            summary=self.summary(d.get("summary"), f"{where}.summary"),
            findings=[self.finding(f, f"{where}.findings[{n}]")
                      for n, f in enumerate(self.array(d.get("findings") or [], f"{where}.findings"))],
        )

    def trace(self, data: dict[str, Any]) -> Trace:
        notes = self.array(data.get("notes") or [], "notes")
        if not all(isinstance(x, str) for x in notes):
            raise self.fail("notes", "not a list of strings")
        return Trace(
            sessions=[self.session(s, f"sessions[{n}]")
                      for n, s in enumerate(self.array(data.get("sessions") or [], "sessions"))],
            source=self.text(data, "source", "trace", ""),
            created_at=float(self.number(data, "created_at", "trace", optional=True) or 0.0),
            tool_version=self.text(data, "tool_version", "trace", ""),
            notes=list(notes),
        )


def write_atomically(path: str | os.PathLike[str], data: bytes | str, mode: int | None = None) -> None:
    """Write a whole file or nothing: a temp file beside it, then os.replace.

    `mode` (e.g. 0o600 for a private key) is set before the file appears under its name.
    """
    target = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
        if mode is None:
            # mkstemp makes 0600 files; a report is an ordinary file, so honour the umask.
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a trace JSON file; TraceFormatError says what is wrong with it."""
    return Trace.from_json(Path(path).read_text(encoding="utf-8"))
