"""Which names carry secrets: query parameters, form fields, JSON keys, headers.

Names are compared normalised (lower case, without `_`, `-`, `.` and spaces), so
`access_token`, `accessToken`, `Access-Token` and `ACCESSTOKEN` are one name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache, wraps

# Query parameters that sign or authorise a URL: S3/OSS/UFile (Signature, Expires,
# *AccessKeyId), CloudFront (Signature, Expires, Key-Pair-Id, Policy), Docker Hub's
# Cloudflare CDN (verify), AWS SigV4 (X-Amz-*), GCS (X-Goog-*, GoogleAccessId), Azure SAS
# (sig, se, sp, sv, sr, st, spr, sip, ss, srt, skoid…), OAuth2 (code, client_secret).
SECRET_QUERY = frozenset(
    {
        "signature", "expires", "verify", "sig", "token", "access_token", "refresh_token",
        "id_token", "password", "passwd", "policy", "key-pair-id", "ossaccesskeyid",
        "awsaccesskeyid", "ucloudpublickey", "googleaccessid", "se", "sp", "sv", "sr", "st",
        "spr", "sip", "ss", "srt", "skoid", "sktid", "skt", "ske", "sks", "skv", "saoid",
        "suoid", "scid", "sdd", "code", "client_secret", "secret", "apikey", "api_key", "key",
        "auth", "jwt", "session", "sessionid", "private_token", "x-api-key",
    }
)
SECRET_QUERY_PREFIXES = ("x-amz-", "x-goog-", "x-oss-")

# Words that make any name (query parameter, form field, header) a secret's name.
_SECRET_WORDS_RE = re.compile(
    "token|secret|password|passwd|signature|credential|apikey|privatekey|accesskey|secretkey"
    "|sessionid|cookie|jwt"
)

# JSON keys whose string values are credentials: token services (`token`,
# `access_token`, `refresh_token`, `id_token`), docker's config (`identitytoken`,
# `registrytoken`), ECR's GetAuthorizationToken (`authorizationToken`), AWS STS
# (`SessionToken`, `SecretAccessKey`), and any key ending in one of _KEY_SUFFIXES.
_SECRET_KEYS = frozenset(
    {
        "token", "password", "passwd", "pwd", "secret", "apikey", "clientsecret",
        "authorization", "proxyauthorization", "xregistryauth", "cookie", "setcookie",
        "privatekey", "accesskeyid", "awsaccesskeyid", "signature", "jwt", "credential",
    }
)
_KEY_SUFFIXES = ("token", "secret", "password", "passwd", "apikey", "secretkey", "privatekey",
                 "accesskey", "credential", "credentials")

# Names repeat (every pair of a query string, every key of a JSON array of objects): the
# decisions below are cached, so a body of 100,000 pairs costs 100,000 dict look-ups.
# Only short names are kept, so the cache stays small however long a capture runs.
_CACHED_NAME = 64


def _cached(rule: Callable[[str], bool]) -> Callable[[str], bool]:
    cached = lru_cache(maxsize=2048)(rule)

    @wraps(rule)
    def decide(name: str) -> bool:
        return cached(name) if len(name) <= _CACHED_NAME else rule(name)

    return decide
# docker's config.json `"auth": "base64(user:password)"`; masked when its value is base64,
# so a trace's own `"auth": "bearer-credentials"` stays readable.
BASE64_AUTH_KEYS = frozenset({"auth", "basicauth"})

# Headers whose values are protocol facts pulltrace reads (classify, diagnose, rows) and
# never credentials; their values are still masked by shape (a JWT is a JWT anywhere).
_PLAIN_HEADERS = frozenset(
    {
        "content-type", "content-length", "content-range", "content-encoding", "range",
        "docker-content-digest", "docker-distribution-api-version", "etag", "date",
        "last-modified", "expires", "server", "via", "user-agent", "accept", "accept-encoding",
        "accept-ranges", "host", "connection", "cache-control", "strict-transport-security",
        "vary", "age", "retry-after", "transfer-encoding", "if-none-match", "if-match",
        "x-content-type-options", "x-frame-options", "referrer-policy", "alt-svc",
        "docker-ratelimit-source", "docker-upload-uuid", "oci-subject", "oci-filters-applied",
        "www-authenticate", "proxy-authenticate", "location", "content-location", "referer",
        "link", "x-forwarded-for", "x-forwarded-proto", "x-real-ip", "traceparent",
        # Ids and checksums registries and CDNs return, kept for support tickets:
        # Cloudflare (Docker Hub), S3/CloudFront, GCS, Aliyun OSS.
        "content-md5", "cf-ray", "cf-cache-status", "x-request-id", "request-id",
        "x-correlation-id", "x-amz-request-id", "x-amz-id-2", "x-amz-cf-id", "x-amz-cf-pop",
        "x-goog-hash", "x-goog-generation", "x-guploader-uploadid", "x-oss-request-id",
        "x-oss-hash-crc64ecma", "x-served-by", "x-cache", "x-cache-hits", "x-timer",
        "docker-request-id",
    }
)
_PLAIN_HEADER_PREFIXES = ("ratelimit-", "x-ratelimit-", "docker-ratelimit-")
# Parts of a header name that say it carries a credential: X-Api-Key, X-JFrog-Art-Api,
# Private-Token (GitLab), X-Docker-Token (Docker Hub v1), X-Auth-Token (OpenStack, Harbor).
_SECRET_HEADER_PARTS = frozenset({"key", "api", "sig", "pass", "pwd", "otp", "auth", "session",
                                  "csrf", "xsrf", "sid"})
AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})

# RFC 7235 auth-param names that follow a scheme in a challenge (`Bearer realm="…"`),
# never a credential.
AUTH_PARAMS = frozenset({"realm", "service", "scope", "error", "error_description", "error_uri",
                         "charset", "nonce", "opaque", "algorithm", "qop", "stale", "domain",
                         "resource_metadata"})


def normalize(name: str) -> str:
    """`X-Auth_Token.value` → `xauthtokenvalue`: one spelling for every casing and separator."""
    return name.lower().translate(_DROP)


_DROP = str.maketrans("", "", "_-. ")


@_cached
def is_secret_query_name(name: str) -> bool:
    """A query parameter or form field that signs or authorises (`Signature`, `X-Amz-Date`, `password`)."""
    lname = name.lower()
    if lname in SECRET_QUERY or lname.startswith(SECRET_QUERY_PREFIXES):
        return True
    return _SECRET_WORDS_RE.search(lname.translate(_DROP)) is not None


@_cached
def is_secret_key(key: str) -> bool:
    """A JSON key (any casing, already unescaped) whose string value is a credential."""
    norm = normalize(key)
    return norm in _SECRET_KEYS or norm.endswith(_KEY_SUFFIXES)


@_cached
def is_plain_header(name: str) -> bool:
    lname = name.lower().strip()
    return lname in _PLAIN_HEADERS or lname.startswith(_PLAIN_HEADER_PREFIXES) or lname.endswith("-version")


@_cached
def is_secret_header(name: str) -> bool:
    """A header whose whole value is a credential, by its name: Authorization, Cookie,
    X-Api-Key, X-Docker-Token, X-Registry-Auth, X-Amz-Security-Token…"""
    lname = name.lower().strip()
    if lname in AUTH_HEADERS or lname in COOKIE_HEADERS:
        return True
    if is_plain_header(lname):
        return False
    norm = lname.translate(_DROP)
    if _SECRET_WORDS_RE.search(norm) is not None or "auth" in norm:
        return True
    parts = lname.replace("_", "-").split("-")
    return any(part in _SECRET_HEADER_PARTS for part in parts)


@_cached
def is_strong_secret_name(name: str) -> bool:
    """A name in free text (`password: …`, `X-Auth-Token: …`) whose value is masked whatever it looks like."""
    norm = normalize(name)
    return _SECRET_WORDS_RE.search(norm) is not None or norm in _SECRET_KEYS
