"""Answering registry auth challenges, as one generator per request.

`RegistryAuth.flow(request)` is shaped like httpx's `Auth.auth_flow`: it yields the request
(with Authorization when it already knows what the server wants), receives the response
(`response = yield request`), and on a 401 yields the token request the challenge calls for,
then the retry. The driver — `transport.Transport`, or a test calling `next()`/`send()` —
sends whatever is yielded and sends back the response; the flow ends with the final
response to the caller's request. No I/O happens here, so every case is testable offline.

Authorization is attached per *auth space* — origin plus any path prefix before `/v2/` — and
only for registry API paths, so a blob redirect to a CDN (or through a `/docker-blob/` reverse
proxy on the same host) never carries the registry's token: when such a hop answers 401, its
own challenge is answered with credentials for its own host.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx

from pulltrace import jsonbound
from pulltrace.auth import Challenge, ChallengeError, parse_www_authenticate, repository_scope
from pulltrace.client.credentials import Credentials
from pulltrace.client.errors import AuthError
from pulltrace.v2path import parse_path

# docker (distribution's token handler) treats a token as living at least this long.
MINIMUM_TOKEN_LIFETIME = 60
# A lifetime beyond a day is not believed (a registry that says 1e300 still gets renewals).
MAXIMUM_TOKEN_LIFETIME = 86400
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
DEFAULT_CLIENT_ID = "pulltrace"

AuthFlow = Generator[httpx.Request, httpx.Response, None]
CredentialsFor = Callable[[httpx.URL], "Credentials | None"]


def auth_space(url: httpx.URL) -> str | None:
    """`https://host:443/prefix` for a registry API URL, else None (a CDN, a token realm).

    The path is read by pulltrace's one /v2/ grammar (`pulltrace.v2path`): a prefix before
    `/v2/` belongs to the registry, distribution's storage layout on a CDN is not the API.
    """
    v2 = parse_path(url.path)
    if v2 is None or v2.endpoint == "other":
        return None
    return f"{url.scheme}://{url.host}:{url.port or _default_port(url.scheme)}{v2.prefix}"


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def scopes_for(url: httpx.URL) -> list[str]:
    """The pull scope a registry API URL needs; none for the ping or a name outside the grammar."""
    v2 = parse_path(url.path)
    if v2 is None or v2.endpoint not in ("manifest", "blob", "tags", "upload") or not v2.valid_name:
        return []
    return [repository_scope(v2.repository or "", "pull")]


@dataclass
class Token:
    value: str
    expires_at: float
    scopes: frozenset[str] = frozenset()
    refresh_token: str | None = None
    issued_here: bool = field(default=False, compare=False)

    def valid(self, now: float) -> bool:
        return now < self.expires_at


def choose_challenge(challenges: list[Challenge]) -> Challenge | None:
    """Bearer over Basic, as docker picks; other schemes are not spoken here."""
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None


def token_request(challenge: Challenge, scopes: list[str], credentials: Credentials | None,
                  refresh_token: str | None = None, client_id: str = DEFAULT_CLIENT_ID) -> httpx.Request:
    """The request a token service expects for this challenge.

    A refresh token (docker's `identitytoken`) goes in an OAuth2 `POST <realm>` form;
    otherwise `GET <realm>?service=…&scope=…&scope=…`, with Basic credentials when there are
    any. The realm may already carry a query string (some Harbor set-ups): parameters are
    appended to it, not substituted.
    """
    assert challenge.realm
    realm = challenge.realm
    try:
        httpx.URL(realm)
    except httpx.InvalidURL:
        raise AuthError(f"the registry's challenge names a malformed token realm {realm[:100]!r}") from None
    if refresh_token:
        form: list[tuple[str, str]] = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)]
        if challenge.service:
            form.append(("service", challenge.service))
        if scopes:
            # OAuth2 forms carry several scopes space-separated in one parameter.
            form.append(("scope", " ".join(scopes)))
        form.append(("client_id", client_id))
        return httpx.Request("POST", realm, content=urlencode(form).encode(),
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    params: list[tuple[str, str]] = []
    if credentials and credentials.username:
        params.append(("account", credentials.username))
    if challenge.service:
        params.append(("service", challenge.service))
    params.extend(("scope", s) for s in scopes)
    url = realm
    if params:
        url += ("&" if "?" in realm else "?") + urlencode(params)
    headers = {}
    if credentials and credentials.username:
        headers["Authorization"] = basic_header(credentials)
    return httpx.Request("GET", url, headers=headers)


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def read_token_response(response: httpx.Response, now: float) -> Token:
    """A Token from a token service's JSON (`token` or `access_token`, `expires_in`)."""
    try:
        data = jsonbound.loads(response.content, what="token response")
    except ValueError:  # JSONBoundError too: malformed, too big or nested too deep
        raise AuthError(f"token service {_where(response)} answered {response.status_code} "
                        "with a body that is not JSON") from None
    if not isinstance(data, dict):
        raise AuthError(f"token service {_where(response)} answered JSON that is not an object")
    # distribution: `access_token` and `token` are the same thing; either may be absent.
    value = data.get("access_token") or data.get("token")
    if not value or not isinstance(value, str):
        raise AuthError(f"token service {_where(response)} answered without a token")
    if not _TOKEN_RE.fullmatch(value):
        # It goes into an Authorization header: no spaces, no control bytes (RFC 6750 b64token).
        raise AuthError(f"token service {_where(response)} answered a token that cannot be sent in a header")
    try:
        lifetime = int(data.get("expires_in") or 0)
    except (TypeError, ValueError, OverflowError):
        lifetime = 0
    # docker's floor: a token said to live less than 60 s (or not said) is kept 60 s; a
    # registry that rejects it earlier gets a 401 and a fresh token (moby#20308).
    lifetime = min(max(lifetime, MINIMUM_TOKEN_LIFETIME), MAXIMUM_TOKEN_LIFETIME)
    refresh = data.get("refresh_token")
    refresh = refresh if isinstance(refresh, str) and _TOKEN_RE.fullmatch(refresh) else None
    return Token(value=value, expires_at=now + lifetime, refresh_token=refresh, issued_here=True)


def _where(response: httpx.Response) -> str:
    url = response.request.url
    return f"{url.scheme}://{url.host}{url.path}"


def _error_detail(response: httpx.Response) -> str:
    try:
        data = jsonbound.loads(response.content, what="error body")
    except ValueError:
        return response.text[:120].strip()
    if not isinstance(data, dict):
        return ""
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message") or errors[0].get("code") or "")
    return str(data.get("details") or data.get("detail") or data.get("error") or "")


class RegistryAuth:
    """Remembers challenges, tokens and refresh tokens; hands out one flow per request.

    Thread-safe: concurrent layer downloads share one instance. No lock is held across a
    yield; two flows may fetch the same token at once, which is harmless.
    """

    def __init__(self, credentials_for: CredentialsFor | None = None,
                 clock: Callable[[], float] = time.monotonic, client_id: str = DEFAULT_CLIENT_ID,
                 rewrite_realm: Callable[[str], str] | None = None) -> None:
        self._credentials_for = credentials_for or (lambda url: None)
        # DOCKER_AUTH_REVERSE_PROXY: the realm a challenge names is reached through a proxy.
        self._rewrite_realm = rewrite_realm
        self._clock = clock
        self._client_id = client_id
        self._lock = threading.Lock()
        self._challenges: dict[str, Challenge] = {}
        self._tokens: dict[tuple[str, str, frozenset[str]], Token] = {}
        self._refresh: dict[tuple[str, str], str] = {}
        self.tokens_fetched = 0
        self.renewals = 0

    # -- what was learnt ------------------------------------------------------------------
    def challenge_for(self, url: httpx.URL) -> Challenge | None:
        space = auth_space(url)
        with self._lock:
            return self._challenges.get(space) if space else None

    def remember(self, url: httpx.URL, challenge: Challenge) -> None:
        space = auth_space(url)
        if space:
            with self._lock:
                self._challenges[space] = challenge

    # -- the flow -------------------------------------------------------------------------
    def flow(self, request: httpx.Request) -> AuthFlow:
        """Yield `request`, answering 401 challenges until it succeeds or cannot."""
        url = request.url
        scopes = scopes_for(url)
        sent: Token | str | None = None
        request.headers.pop("Authorization", None)
        known = self.challenge_for(url)
        if known is not None and (scopes or known.is_basic):
            sent = yield from self._authorize(request, known, scopes, stale=None)
        response = yield request
        for _ in range(2):
            if response.status_code != 401:
                return
            try:
                challenge = choose_challenge(parse_www_authenticate(response.headers.get_list("www-authenticate")))
            except ChallengeError:
                return
            if challenge is None:
                return
            if challenge.is_bearer and self._rewrite_realm and challenge.realm:
                challenge = Challenge(challenge.scheme, {**challenge.params,
                                                         "realm": self._rewrite_realm(challenge.realm)})
            self.remember(url, challenge)
            if challenge.is_basic:
                if sent == "basic":
                    return  # the password itself was refused
            else:
                if not scopes and auth_space(url) is not None:
                    return  # the ping: docker only learns the challenge from it
                wanted = list(dict.fromkeys(scopes + _challenge_scopes(challenge)))
                if isinstance(sent, Token):
                    if sent.issued_here and set(wanted) <= sent.scopes:
                        return  # a fresh token for all of it was still refused: access denied
                    self._forget(sent)
            stale = sent.value if isinstance(sent, Token) else None
            if isinstance(sent, Token) and not sent.issued_here:
                with self._lock:
                    self.renewals += 1
            sent = yield from self._authorize(request, challenge, wanted if challenge.is_bearer else scopes,
                                              stale=stale)
            if sent is None:
                return
            response = yield request

    def _authorize(self, request: httpx.Request, challenge: Challenge, scopes: list[str],
                   stale: str | None) -> Generator[httpx.Request, httpx.Response, Token | str | None]:
        credentials = self._credentials_for(request.url)
        if challenge.is_basic:
            if not credentials or not credentials.username:
                return None
            request.headers["Authorization"] = basic_header(credentials)
            return "basic"
        token = yield from self._token(challenge, scopes, credentials, stale)
        request.headers["Authorization"] = f"Bearer {token.value}"
        return token

    def _token(self, challenge: Challenge, scopes: list[str], credentials: Credentials | None,
               stale: str | None) -> Generator[httpx.Request, httpx.Response, Token]:
        key = (challenge.realm or "", challenge.service or "", frozenset(scopes))
        now = self._clock()
        with self._lock:
            cached = self._tokens.get(key)
        if cached and cached.valid(now) and cached.value != stale:
            return Token(cached.value, cached.expires_at, cached.scopes, cached.refresh_token, issued_here=False)
        realm_key = (challenge.realm or "", challenge.service or "")
        with self._lock:
            refresh = self._refresh.get(realm_key)
        if not refresh and credentials and credentials.identity_token:
            refresh = credentials.identity_token
        response = None
        if refresh:
            response = yield token_request(challenge, scopes, credentials, refresh, self._client_id)
            if response.status_code != 200:
                with self._lock:
                    self._refresh.pop(realm_key, None)
                # A token service without OAuth2 (404/405), or a revoked refresh token:
                # docker falls back to the GET form when it has a password.
                if not (credentials and credentials.password) and response.status_code not in (404, 405):
                    raise AuthError(f"token service {_where(response)} refused the stored refresh token "
                                    f"({response.status_code}); run `docker login` again")
                response = None
        if response is None:
            response = yield token_request(challenge, scopes, credentials, None, self._client_id)
        if response.status_code in (401, 403):
            who = f"user {credentials.username!r}" if credentials and credentials.username else "anonymous access"
            detail = _error_detail(response)
            raise AuthError(f"token service {_where(response)} refused {who} ({response.status_code}"
                            f"{': ' + detail if detail else ''}); check the username and password")
        if response.status_code != 200:
            raise AuthError(f"token service {_where(response)} answered {response.status_code}"
                            f"{': ' + _error_detail(response) if _error_detail(response) else ''}")
        token = read_token_response(response, self._clock())
        token.scopes = frozenset(scopes)
        with self._lock:
            self._tokens[key] = token
            self.tokens_fetched += 1
            if token.refresh_token:
                self._refresh[realm_key] = token.refresh_token
        return token

    def _forget(self, token: Token) -> None:
        with self._lock:
            for key, cached in list(self._tokens.items()):
                if cached.value == token.value:
                    del self._tokens[key]


def _challenge_scopes(challenge: Challenge) -> list[str]:
    # `scope` may hold several space-separated scopes (distribution joins them so).
    return [s for s in (challenge.scope or "").split(" ") if s]
