"""Secrets recognised by their shape, wherever they are: JWTs, API keys of known
vendors, `Bearer`/`Basic` credentials, URL userinfo, signed query parameters,
`name: value` lines naming a credential.

Every pattern here reads untrusted text (bodies, headers, error messages) on the
proxy's event loop, so each runs in linear time: quantifiers are possessive (`*+`,
`++`), runs start only at a run's boundary (a lookbehind), and anything that would
need backtracking (which segment of a dotted run is a JWT) is decided in Python on
the one run the pattern found. Patterns that start with a lookbehind open with a
lookahead for their first character, so the engine skips most positions at C speed.
"""

from __future__ import annotations

import re

from pulltrace.auth import EMPTY_BASIC
from pulltrace.redact.names import (
    AUTH_PARAMS,
    COOKIE_HEADERS,
    is_secret_header,
    is_secret_query_name,
    is_strong_secret_name,
)

ELLIPSIS = "…"


def mask_secret(value: str, keep: int = 8) -> str:
    """`eyJhbGciOi…` — a prefix of a secret, never enough to use it.

    Idempotent: a value that already is a short prefix and an ellipsis stays; a long
    value that merely ends in an ellipsis (a loaded trace claiming to be masked) is cut.
    """
    if not value:
        return value
    if value.endswith(ELLIPSIS):
        if len(value) - 1 <= keep:
            return value
        value = value[:-1]
    keep = min(keep, len(value) // 3)
    return value[:keep] + ELLIPSIS


def mask_authorization(value: str) -> str:
    """`Bearer eyJhbGci…`, `Basic YWRt…`: the scheme stays, the credential goes."""
    scheme, sep, credential = value.strip().partition(" ")
    if not sep or not scheme.isalpha() and "-" not in scheme:
        return mask_secret(value, 4)
    if scheme.lower() == "basic" and credential.strip().lower() in EMPTY_BASIC:
        # Nothing secret, and masked it would no longer say "anonymous" to a reader of the trace.
        return value.strip()
    keep = 4 if scheme.lower() == "basic" else 8
    return f"{scheme} {mask_secret(credential.strip(), keep)}"



def looks_like_credential(value: str, min_len: int = 20) -> bool:
    """A single run of token characters, long, mixing letters with digits or cases,
    and not a digest, a UUID or a hex id (which registries use for request ids)."""
    if len(value) < min_len or not _TOKEN_RUN_RE.fullmatch(value):
        return False
    if _HEXISH_RE.fullmatch(value) or _DIGEST_RE.fullmatch(value):
        return False
    lower = any(c.islower() for c in value)
    upper = any(c.isupper() for c in value)
    digit = any(c.isdigit() for c in value)
    return (lower or upper) and (digit or (lower and upper))


def _plausible(credential: str) -> bool:
    """After `Bearer `/`Basic ` in prose: a credential, not a word (`Bearer tokens`, `Basic Auth`)."""
    return _PLAUSIBLE_RE.search(credential) is not None


_PLAUSIBLE_RE = re.compile(r"[0-9+/=._~-]|(?<=.)[A-Z]")


_TOKEN_RUN_RE = re.compile(r"[A-Za-z0-9+/=_.~:-]++")
_HEXISH_RE = re.compile(r"[0-9A-Fa-f-]++")
_DIGEST_RE = re.compile(r"[a-z0-9]++(?:[+._-][a-z0-9]++)*+:[0-9a-fA-F=_-]{32,}+")

# --- JWTs -----------------------------------------------------------------------------
# A dotted run of base64url (at least two dots), starting at a run boundary. Which
# segment starts the JWT (`eyJ` is base64 of `{"`) is found in Python: a regex that
# searched for `eyJ` inside the run would rescan it from every `eyJ` (quadratic).
_DOTTED_RUN_RE = re.compile(r"(?=[A-Za-z0-9_.-])(?<![A-Za-z0-9_-])[A-Za-z0-9_-]*+(?:\.[A-Za-z0-9_-]*+){2,}+")


def _mask_jwt_run(m: re.Match[str]) -> str:
    run = m.group(0)
    start = 0
    segments = run.split(".")
    for segment in segments[:-2]:
        at = segment.find("eyJ")
        if at >= 0 and len(segment) - at >= 10:
            return run[: start + at] + mask_secret(run[start + at:])
        start += len(segment) + 1
    return run


def mask_jwts(text: str) -> str:
    if "eyJ" not in text:
        return text
    return _DOTTED_RUN_RE.sub(_mask_jwt_run, text)


# --- API keys with a vendor prefix ------------------------------------------------------
# GitHub (ghp_/gho_/ghu_/ghs_/ghr_, github_pat_), GitLab (glpat-), Docker Hub personal
# access tokens (dckr_pat_), AWS access key ids (AKIA/ASIA), Google API keys (AIza),
# Slack (xox?-), npm (npm_), JFrog API keys (AKCp).
_API_KEY_RE = re.compile(
    r"(?=[a-zA-Z])(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,}+|github_pat_[A-Za-z0-9_]{20,}+"
    r"|glpat-[A-Za-z0-9_-]{16,}+|dckr_pat_[A-Za-z0-9_-]{16,}+|(?:AKIA|ASIA)[0-9A-Z]{16}+"
    r"|AIza[0-9A-Za-z_-]{30,}+|xox[abprs]-[A-Za-z0-9-]{10,}+|npm_[A-Za-z0-9]{30,}+"
    r"|AKCp[A-Za-z0-9]{20,}+)"
)


def mask_api_keys(text: str) -> str:
    return _API_KEY_RE.sub(lambda m: mask_secret(m.group(0), 4), text)


# --- Bearer / Basic / Token credentials in prose -----------------------------------------
# The credential is read in a lookahead, not consumed: in `Bearer Bearer eyJ…` the first
# "credential" is the word Bearer, and the search must go on from there.
_SCHEME_RE = re.compile(r"\b(Bearer|Basic|Token)[ \t]++(?=([A-Za-z0-9+/=._~-]++)(…?))", re.IGNORECASE)


def _masked_credential(scheme: str, credential: str, ellipsis: str) -> str | None:
    keep = 4 if scheme.lower() == "basic" else 8
    name, eq, _ = credential.partition("=")
    if eq and name.lower() in AUTH_PARAMS:  # `Bearer realm="…"`: a challenge, not a credential
        return None
    if ellipsis and len(credential) <= keep:  # already masked
        return None
    if scheme.lower() == "token":
        if not ellipsis and not looks_like_credential(credential, 16):
            return None
    elif len(credential) < 6 or not _plausible(credential):
        return None
    return mask_secret(credential, keep)


def mask_schemes(text: str) -> str:
    out: list[str] = []
    last = 0
    for m in _SCHEME_RE.finditer(text):
        if m.start() < last:
            continue
        masked = _masked_credential(m.group(1), m.group(2), m.group(3))
        if masked is not None:
            out.append(text[last:m.end()])
            out.append(masked)
            last = m.end(3)
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# --- URL userinfo -------------------------------------------------------------------------
# `scheme://user:password@host`: the password goes, the user stays. The password run
# stops at `/`, so it is bounded by its own authority; `@` inside it (unencoded, as
# people type it) backtracks to the last `@` of that authority only.
_USERINFO_RE = re.compile(
    r"(?=[A-Za-z])(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*+://)([^\s/@:\"'<>\\]*+):([^\s/\"'<>\\]*)@"
)


def mask_userinfo(text: str) -> str:
    if "@" not in text:
        return text
    return _USERINFO_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}:{ELLIPSIS}@", text)


# --- name=value pairs: query strings, forms, signed links ---------------------------------
# A name starts at a boundary, or right after an encoded `&`/`?` (`%26`, `%3F`) or Go's
# JSON escape of `&` (`\u0026`), so a signed URL nested in another URL's query, or in a
# JSON error body, is found too.
# Lookaheads keep runs that are no pair (a digest, a path) and names that cannot be
# secret (`n=100`, `scope=…`) out of Python: each scans one name, so the pass stays
# linear and most pairs cost no call.
_PAIR_NAME_RE = re.compile(
    r"(?=[A-Za-z0-9_.-])(?:(?<![A-Za-z0-9_.%-])|(?<=%26)|(?<=%3[Ff])|(?<=\\u0026))"
    r"(?=[A-Za-z0-9_.-]++(?:=|%3[Dd]))"
    r"(?=[A-Za-z0-9_.-]*?(?:tok|secret|pass|pwd|key|sig|cred|jwt|sess|auth|cookie|code|polic"
    r"|verify|expires|ucloud|googleaccess|x-amz-|x-goog-|x-oss-)|s[a-z]{1,4}+(?:=|%3[Dd]))"
    r"([A-Za-z0-9_.-]++)(=|%3[Dd])",
    re.IGNORECASE,
)
_PLAIN_VALUE_RE = re.compile(r"[^&\s\"'<>#\\,;]*+")
_ENCODED_VALUE_RE = re.compile(r"(?:[^&\s\"'<>#\\,;%]|%(?!26|3[Ff]|3[Dd]))*+")


_FLAGS = frozenset({"true", "false"})


def mask_pairs(text: str) -> str:
    """`password=…`, `Signature=…`, `X-Amz-Credential=…` wherever a `name=value` pair is."""
    if "=" not in text and "%3" not in text:
        return text
    out: list[str] = []
    last = 0
    for m in _PAIR_NAME_RE.finditer(text):
        if m.start() < last or not is_secret_query_name(m.group(1)):
            continue
        value_re = _PLAIN_VALUE_RE if m.group(2) == "=" else _ENCODED_VALUE_RE
        v = value_re.match(text, m.end())
        assert v is not None  # both patterns match the empty string
        value = v.group(0)
        if not value or value.lower() in _FLAGS:  # Harbor's `offline_token=true` is a request, not a token
            continue
        masked = mask_secret(value, 0)
        if masked != value:
            out.append(text[last:m.end()])
            out.append(masked)
            last = v.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# --- `Name: value` lines (headers pasted into an error, YAML, logs) -------------------------
# The name starts a line or follows a blank, quote or bracket, and a blank follows the
# colon: `repository:team/secret:pull` (a scope) and `token:v1` (a tag) are not lines.
_COLON_NAME_RE = re.compile(
    r"(?=[A-Za-z])(?:^|(?<=[\s\"'{\[(<>,;]))(?=[A-Za-z0-9_-]++[ \t]*+:[ \t])"
    r"(?=[A-Za-z0-9_-]*?(?:tok|secret|pass|pwd|key|api|auth|sess|cookie|sig|cred|jwt|csrf|xsrf"
    r"|otp|sid))([A-Za-z][A-Za-z0-9_-]*+)[ \t]*+:[ \t]++",
    re.MULTILINE | re.IGNORECASE,
)
_COLON_VALUE_RE = re.compile(r"[^\s\"'<>,;\\]++")
_LINE_REST_RE = re.compile(r"[^\r\n\"\\]*+")
_SCHEMES = frozenset({"bearer", "basic", "token", "digest", "negotiate", "aws4-hmac-sha256"})


def mask_named_lines(text: str) -> str:
    """`X-Auth-Token: abc…`, `password: …`, `Cookie: sid=…` in free text."""
    if ":" not in text:
        return text
    out: list[str] = []
    last = 0
    for m in _COLON_NAME_RE.finditer(text):
        name = m.group(1)
        if m.start() < last or not is_secret_header(name):
            continue
        if name.lower() in COOKIE_HEADERS:
            rest = _LINE_REST_RE.match(text, m.end())
            assert rest is not None
            masked = mask_cookie(rest.group(0), set_cookie=name.lower() == "set-cookie")
            end = rest.end()
        else:
            v = _COLON_VALUE_RE.match(text, m.end())
            if v is None:
                continue
            value = v.group(0)
            end = v.end()
            if value.lower() in _SCHEMES or value.startswith(("http://", "https://")):
                continue  # the scheme pass masks what follows; a URL is masked by its own rules
            if not is_strong_secret_name(name) and not looks_like_credential(value, 8):
                continue
            masked = mask_secret(value, 4)
        if masked != text[m.end():end]:
            out.append(text[last:m.end()])
            out.append(masked)
            last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def mask_cookie(value: str, *, set_cookie: bool) -> str:
    """Every cookie's value in `Cookie`; in `Set-Cookie` the first pair (the rest are attributes)."""
    parts = value.split(";")
    out = []
    for i, part in enumerate(parts):
        name, eq, val = part.partition("=")
        if eq and (not set_cookie or i == 0):
            out.append(f"{name}={mask_secret(val.strip(), 4)}")
        else:
            out.append(part)
    return ";".join(out)
