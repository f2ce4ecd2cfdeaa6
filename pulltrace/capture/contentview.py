"""The "pulltrace" contentview: registry messages shown in mitmweb and mitmproxy's console as
a reader wants them, not as raw JSON (issue 13).

Manifests and indexes become tables (platforms; layers with size, media type and digest),
token responses show their decoded claims and lifetime with the token itself masked,
WWW-Authenticate challenges are parsed, and registry error bodies read as code and message.
Anything else is not ours: the view declines it and mitmproxy picks another.

The rendering (`render`) is pure and the same on both mitmproxy lines; only the adapter
differs, because mitmproxy 12 replaced `base.View` (lines of styled chunks) with the
`Contentview` protocol (one string).
"""

from __future__ import annotations

import datetime
import importlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pulltrace import jsonbound
from pulltrace.auth import (
    Challenge,
    ChallengeError,
    ScopeError,
    TokenResponseError,
    parse_scope,
    parse_token_response,
    parse_www_authenticate,
)
from pulltrace.manifest import MANIFEST_TYPES, ManifestError, ParsedManifest, parse_manifest
from pulltrace.redact import decode_claims, mask_secret, mask_text, mask_url, mask_value
from pulltrace.render.fmt import human_bytes, terminal_safe

NAME = "pulltrace"
# Above the JSON view (1) and below nothing built in that reads JSON: in `auto` mode a
# registry message is shown by this view, everything else as before.
PRIORITY = 2.0
# Distribution's token spec: a token response without expires_in lasts 60 seconds.
DEFAULT_TOKEN_LIFETIME_S = 60
MAX_ERRORS = 50  # an error body listing more is hostile; the rest is counted, not shown
MAX_ROWS = 1000  # manifests with more layers or entries exist only to be hostile


@dataclass(frozen=True)
class Rendered:
    """What the view shows: a one-line description and the lines below it."""

    description: str
    lines: list[str]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell; the last column is not padded."""
    rows = [[terminal_safe(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in [list(header), *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < len(cells) - 1 else c for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                    strict=True)))
    return [line(header), *(line(r) for r in rows)]


def _json_object(body: bytes) -> dict[str, Any] | None:
    # Only the head is looked at: a view is asked about every body, blobs of gigabytes included.
    if not body or body[:1024].lstrip()[:1] != b"{":
        return None
    try:
        data = jsonbound.loads(body, max_bytes=4 * 1024 * 1024, what="body")
    except jsonbound.JSONBoundError:
        return None
    return data if isinstance(data, dict) else None


def _media_type(content_type: str | None) -> str:
    return content_type.split(";")[0].strip().lower() if isinstance(content_type, str) else ""


# -- manifests -------------------------------------------------------------------------
def manifest_lines(manifest: ParsedManifest) -> list[str]:
    """An index as a table of platforms, an image manifest as its config and layers."""
    lines = [f"media type  {manifest.media_type or '(none)'}"]
    if manifest.is_schema1:
        return [*lines, "schema 1 manifest: no layer sizes or media types to show (deprecated format)"]
    if manifest.is_index or manifest.manifests:
        entries = manifest.manifests
        lines.append(f"manifests   {len(entries)}")
        lines.append("")
        rows = [[str(n), str(d.platform) if d.platform else "(no platform)", human_bytes(d.size), d.media_type,
                 d.digest] for n, d in enumerate(entries[:MAX_ROWS], 1)]
        lines += _table(["#", "platform", "size", "media type", "digest"], rows)
        if len(entries) > MAX_ROWS:
            lines.append(f"… {len(entries) - MAX_ROWS} more")
        return lines
    total = sum(d.size for d in manifest.layers)
    lines.append(f"layers      {len(manifest.layers)}, {human_bytes(total)} ({total} bytes)")
    lines.append("")
    rows = []
    if manifest.config is not None:
        c = manifest.config
        rows.append(["config", human_bytes(c.size), c.media_type, c.digest])
    rows += [[str(n), human_bytes(d.size), d.media_type, d.digest]
             for n, d in enumerate(manifest.layers[:MAX_ROWS], 1)]
    lines += _table(["layer", "size", "media type", "digest"], rows)
    if len(manifest.layers) > MAX_ROWS:
        lines.append(f"… {len(manifest.layers) - MAX_ROWS} more")
    return lines


def _looks_like_manifest(data: dict[str, Any]) -> bool:
    """A body with no manifest Content-Type (a proxy that rewrote it) but a manifest's shape."""
    media = data.get("mediaType")
    if isinstance(media, str) and media in MANIFEST_TYPES:
        return True
    return data.get("schemaVersion") == 2 and ("manifests" in data or "layers" in data)


# -- tokens ----------------------------------------------------------------------------
def _when(seconds: object) -> str | None:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return None
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return None


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds:g} s ({seconds / 60:.0f} min)"
    return f"{seconds:g} s ({seconds / 3600:.1f} h)"


def _access_lines(access: object) -> list[str]:
    """The `access` claim (distribution's token spec): what the token lets its bearer do."""
    if not isinstance(access, list):
        return []
    rows = []
    for entry in access[:MAX_ROWS]:
        if not isinstance(entry, dict):
            continue
        actions = entry.get("actions")
        shown = ",".join(str(a) for a in actions) if isinstance(actions, list) else ""
        rows.append([str(entry.get("type", "")), str(entry.get("name", "")), shown or "(none: not granted)"])
    return _table(["type", "name", "actions"], rows) if rows else []


def token_lines(body: bytes) -> list[str] | None:
    """A token response: masked token, lifetime, and the JWT's claims (masked); None if the
    body is not one."""
    try:
        answer = parse_token_response(body)
    except TokenResponseError:
        return None
    lines = [f"token       {mask_secret(answer.token)}"]
    if answer.refresh_token:
        lines.append(f"refresh     {mask_secret(answer.refresh_token)} (the client may store it for later pulls)")
    if answer.issued_at:
        lines.append(f"issued at   {terminal_safe(answer.issued_at)}")
    if answer.expires_in is not None:
        lines.append(f"expires in  {_duration(answer.expires_in)}")
    else:
        lines.append(f"expires in  not given: clients assume {DEFAULT_TOKEN_LIFETIME_S} s (token spec)")
    claims = decode_claims(answer.token)
    if claims is None:
        lines.append("claims      none readable (an opaque token, not a JWT)")
        return lines
    claims = mask_value(claims)
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
    start = iat if isinstance(iat, (int, float)) else nbf
    if isinstance(exp, (int, float)) and isinstance(start, (int, float)) and not isinstance(exp, bool):
        lines.append(f"lifetime    {_duration(exp - start)} (JWT exp - {'iat' if start is iat else 'nbf'})")
    lines += ["", "claims"]
    for key, value in claims.items():
        if key == "access":
            continue
        when = _when(value) if key in ("exp", "iat", "nbf") else None
        shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        lines.append(f"  {terminal_safe(str(key)):<8}{terminal_safe(shown)}" + (f"  ({when})" if when else ""))
    access = _access_lines(claims.get("access"))
    if access:
        lines += ["", "access", *(f"  {line}" for line in access)]
    elif "access" in claims:
        lines += ["", "access      none granted"]
    return lines


# -- challenges and errors -------------------------------------------------------------
def challenge_lines(values: Sequence[str]) -> list[str]:
    """Every challenge of a response's WWW-Authenticate headers, one parameter a line."""
    try:
        challenges = parse_www_authenticate(list(values))
    except ChallengeError as e:
        return [f"cannot parse: {terminal_safe(mask_text(str(e)))}"]
    lines: list[str] = []
    for challenge in challenges:
        lines += _one_challenge(challenge)
    return lines


def _one_challenge(challenge: Challenge) -> list[str]:
    lines = [challenge.scheme.capitalize()]
    for key, value in challenge.params.items():
        shown = mask_url(value) if key == "realm" else mask_text(value)
        lines.append(f"  {terminal_safe(key):<8}{terminal_safe(shown)}")
        if key == "scope":
            for part in value.split(" "):
                try:
                    scope = parse_scope(part)
                except ScopeError:
                    continue
                lines.append(f"            {terminal_safe(scope.type)} {terminal_safe(scope.name)}: "
                             f"{terminal_safe(','.join(scope.actions)) or '(no actions)'}")
    return lines


def error_lines(data: dict[str, Any]) -> list[str] | None:
    """A registry error body (distribution spec: `{"errors": [{code, message, detail}]}`)."""
    errors = data.get("errors")
    if not isinstance(errors, list) or not errors or not all(isinstance(e, dict) for e in errors):
        return None
    rows = []
    details = []
    for n, error in enumerate(errors[:MAX_ERRORS], 1):
        rows.append([str(error.get("code", "")), mask_text(str(error.get("message", "")))])
        detail = error.get("detail")
        if detail not in (None, "", [], {}):
            details.append(f"  {n}. {terminal_safe(mask_text(json.dumps(mask_value(detail), ensure_ascii=False)))}")
    lines = _table(["code", "message"], rows)
    if len(errors) > MAX_ERRORS:
        lines.append(f"… {len(errors) - MAX_ERRORS} more")
    if details:
        lines += ["", "detail", *details]
    return lines


# -- the view --------------------------------------------------------------------------
def render(body: bytes, *, content_type: str | None = None, challenges: Sequence[str] = ()) -> Rendered | None:
    """What the view shows for one message body (and the response's WWW-Authenticate values),
    or None when it is no registry message this view knows."""
    parts: list[tuple[str, list[str]]] = []
    if challenges:
        parts.append(("challenge", challenge_lines(challenges)))
    media = _media_type(content_type)
    data = _json_object(body) if body else None
    if body and (media in MANIFEST_TYPES or (data is not None and _looks_like_manifest(data))):
        try:
            parsed = parse_manifest(body, media or None)
        except ManifestError as e:
            if media in MANIFEST_TYPES:
                parts.append(("manifest", [f"cannot read this manifest: {terminal_safe(str(e))}"]))
        else:
            kind = "index" if parsed.is_index or parsed.manifests else "manifest"
            parts.append((kind, manifest_lines(parsed)))
    elif data is not None:
        errors = error_lines(data)
        if errors is not None:
            parts.append(("registry error", errors))
        elif "token" in data or "access_token" in data:
            token = token_lines(body)
            if token is not None:
                parts.append(("token response", token))
    if not parts:
        return None
    lines: list[str] = []
    for title, section in parts:
        if lines:
            lines.append("")
        lines += [title.upper() if len(parts) > 1 else title.capitalize(), *section]
    return Rendered(f"{NAME}: " + " + ".join(title for title, _ in parts), lines)


def _message_challenges(message: Any) -> list[str]:
    """WWW-Authenticate values of an HTTP response (not a request: a client sends none)."""
    headers = getattr(message, "headers", None)
    if headers is None or not hasattr(message, "status_code"):
        return []
    return list(headers.get_all("www-authenticate"))


def render_message(data: bytes, content_type: str | None, message: Any) -> Rendered | None:
    """`render` for what mitmproxy hands a view: the body, its content type, its message."""
    return render(data or b"", content_type=content_type, challenges=_message_challenges(message))


# -- mitmproxy adapters (11: base.View; 12: the Contentview protocol) -------------------
def _contentviews() -> Any:
    """mitmproxy.contentviews, typed loosely: its API differs between the lines this supports."""
    return importlib.import_module("mitmproxy.contentviews")


def _is_mitmproxy12() -> bool:
    contentviews = _contentviews()
    return hasattr(contentviews, "Contentview") and hasattr(contentviews, "registry")


class PulltraceContentview:
    """mitmproxy 12's Contentview: `prettify` returns text, `render_priority` < 0 declines."""

    name = NAME
    syntax_highlight = "none"

    def prettify(self, data: bytes, metadata: Any) -> str:
        shown = render_message(data, metadata.content_type, metadata.http_message)
        if shown is None:
            raise ValueError("not a registry manifest, token response, challenge or error body")
        return "\n".join(shown.lines) + "\n"

    def render_priority(self, data: bytes, metadata: Any) -> float:
        return PRIORITY if render_message(data, metadata.content_type, metadata.http_message) else -1

    def __lt__(self, other: Any) -> bool:
        return bool(self.name < other.name)


def _legacy_view() -> Any:
    """mitmproxy 11's base.View subclass, built only where mitmproxy 11 is installed."""
    from mitmproxy.contentviews import base

    class PulltraceView(base.View):
        name = NAME

        def __call__(self, data: bytes, *, content_type: str | None = None, http_message: Any = None,
                     **unknown: Any) -> Any:
            shown = render_message(data, content_type, http_message)
            if shown is None:
                return None  # mitmproxy 11 then shows the body raw
            styled = [[("header" if n == 0 else "text", line)] for n, line in enumerate(shown.lines)]
            return shown.description, iter(styled)

        def render_priority(self, data: bytes, *, content_type: str | None = None, http_message: Any = None,
                            **unknown: Any) -> float:
            return PRIORITY if render_message(data, content_type, http_message) else 0

    return PulltraceView()


_registered: list[Any] = []


def register() -> None:
    """Add the view to mitmproxy (once, however many addons load)."""
    contentviews = _contentviews()
    if _registered:
        return
    if _is_mitmproxy12():
        view: Any = PulltraceContentview()
        contentviews.add(view)
    else:
        existing = contentviews.get(NAME)
        if existing is not None:
            contentviews.remove(existing)  # a reloaded script's old copy
        view = _legacy_view()
        contentviews.add(view)
    _registered.append(view)


def unregister() -> None:
    """Remove the view again (mitmproxy 11 refuses a second `add` of one name on reload;
    12 replaces a view of the same name, so there nothing needs removing)."""
    contentviews = _contentviews()
    while _registered:
        view = _registered.pop()
        if not _is_mitmproxy12() and view in contentviews.views:
            contentviews.remove(view)
