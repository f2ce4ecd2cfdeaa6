"""Random pulls with secrets planted in random places: what the masking property
tests and bench/fuzz_masking.py feed through the model and every output.

Generators take a `random.Random`, so hypothesis drives them (`st.randoms()`) in the
quick run and the bench drives them with a seeded one for 10,000 inputs. Each planted
secret comes with its needle: a tail of it that masking must never let through (masks
keep at most a short prefix). The tests in this file prove the planting itself: every
needle is really in the raw exchanges, so a leak test that finds none can fail.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass, field
from urllib.parse import quote

import hypothesis.strategies as st
from hypothesis import given, settings

from pulltrace.model import Exchange

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"
NEEDLE = 16  # characters of a secret's tail that must never reach an output


@dataclass
class Plant:
    """A pull's exchanges with secrets in them, and the needles that must not survive."""

    exchanges: list[Exchange]
    needles: set[str] = field(default_factory=set)
    places: list[str] = field(default_factory=list)
    # Places that replace a whole value (a body, the Location): planted once, or the
    # needles of the first one would be gone.
    used: set[str] = field(default_factory=set)

    def claim(self, slot: str) -> bool:
        if slot in self.used:
            return False
        self.used.add(slot)
        return True


def _run(rnd: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rnd.choice(alphabet) for _ in range(n))


def _tail(rnd: random.Random) -> str:
    """An alphanumeric tail with a digit, an upper and a lower case letter (so a secret
    always looks like one: real tokens do), the part a needle is taken from."""
    return rnd.choice(string.digits) + rnd.choice(string.ascii_uppercase) + rnd.choice(
        string.ascii_lowercase) + _run(rnd, NEEDLE + 1)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt_secret(rnd: random.Random) -> str:
    header = {"alg": rnd.choice(["RS256", "ES256", "HS256"]), "typ": "JWT", "kid": _run(rnd, 8)}
    claims = {"sub": _run(rnd, 6).lower(), "jti": _run(rnd, 12),
              "access": [{"type": "repository", "name": "team/app", "actions": ["pull"]}]}
    signature = _run(rnd, rnd.randint(10, 40), B64URL) + _tail(rnd)
    return f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}.{signature}"


def opaque_secret(rnd: random.Random) -> str:
    return _run(rnd, rnd.randint(4, 30), B64URL) + _tail(rnd)


def api_key_secret(rnd: random.Random) -> str:
    prefix = rnd.choice(["ghp_", "gho_", "github_pat_", "glpat-", "dckr_pat_", "AKCp", "npm_"])
    return prefix + _run(rnd, rnd.randint(14, 30)) + _tail(rnd)


def any_secret(rnd: random.Random) -> str:
    return rnd.choice([jwt_secret, opaque_secret, api_key_secret])(rnd)


def needle(secret: str) -> str:
    return secret[-NEEDLE:]


# Names a token hides behind: header names, JSON keys, query parameters, form fields.
SECRET_HEADERS = ["X-Docker-Token", "X-Auth-Token", "X-JFrog-Art-Api", "Private-Token", "X-Api-Key",
                  "X-Registry-Auth", "X-Amz-Security-Token", "X-Csrf-Token", "X-Session"]
JSON_KEYS = ["token", "access_token", "accessToken", "AccessToken", "ACCESS_TOKEN", "refresh_token",
             "refreshToken", "authorizationToken", "id_token", "idToken", "password", "identitytoken",
             "client_secret", "registry_token"]
SIGNED_PARAMS = ["X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "Signature", "Key-Pair-Id",
                 "Policy", "X-Goog-Signature", "X-Goog-Credential", "sig", "se", "token", "access_token",
                 "signature", "verify", "OSSAccessKeyId", "GoogleAccessId", "AWSAccessKeyId", "apikey"]
PLAIN_PARAMS = ["n", "last", "partNumber", "response-content-type", "scope", "service", "digest"]
FORM_SECRETS = ["password", "refresh_token", "client_secret", "access_token"]


def _random_header_name(rnd: random.Random) -> str:
    """A header name pulltrace has never heard of (no secret word in it)."""
    return "X-" + "".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(3, 8))).capitalize()


def _cased_key(rnd: random.Random, key: str) -> str:
    """The key as JSON text: as is, or with one letter written as a `\\u` escape."""
    encoded = json.dumps(key)[1:-1]
    if rnd.random() < 0.4:
        i = rnd.randrange(len(key))
        encoded = json.dumps(key[:i])[1:-1] + f"\\u{ord(key[i]):04x}" + json.dumps(key[i + 1:])[1:-1]
    return encoded


def _wrap_json(rnd: random.Random, key_text: str, value: str) -> str:
    """`"key": "value"` inside a random JSON document (nested, listed, next to other keys)."""
    member = f'"{key_text}":{json.dumps(value)}'
    other = f'"expires_in":{rnd.randint(60, 3600)},"issued_at":"2024-01-01T00:00:00Z"'
    inner = "{" + (f"{other},{member}" if rnd.random() < 0.5 else f"{member},{other}") + "}"
    shape = rnd.randint(0, 3)
    if shape == 1:
        return '{"data":' + inner + "}"
    if shape == 2:
        return '{"authorizationData":[' + inner + "]}"
    if shape == 3:
        return json.dumps({"items": [1, 2]})[:-1] + ',"nested":' + inner + "}"
    return inner


def _signed_url(rnd: random.Random, host: str, plant: Plant) -> str:
    params = [(rnd.choice(PLAIN_PARAMS), _run(rnd, 4)) for _ in range(rnd.randint(0, 2))]
    for _ in range(rnd.randint(1, 3)):
        secret = opaque_secret(rnd)
        plant.needles.add(needle(secret))
        params.append((rnd.choice(SIGNED_PARAMS), secret))
    rnd.shuffle(params)
    path = f"/docker/registry/v2/blobs/sha256/ab/{_run(rnd, 64, '0123456789abcdef')}/data"
    if rnd.random() < 0.3:  # a JWT in the path, as some CDNs sign
        secret = jwt_secret(rnd)
        plant.needles.add(needle(secret))
        path = f"/t/{secret}{path}"
    return f"https://{host}{path}?" + "&".join(f"{k}={v}" for k, v in params)


def plant_pull(rnd: random.Random) -> Plant:
    """A token-auth pull (ping, token, manifest, 307 to a CDN, CDN GET) with 1–6 secrets
    planted in places chosen at random."""
    registry = rnd.choice(["registry.test", "hub.example.test", "r1.mirror.test"])
    auth_host = "auth." + registry
    cdn = rnd.choice(["cdn.test", "d111.cloudfront.test", "storage.gcs.test", "acct.blob.azure.test"])
    repo = rnd.choice(["library/alpine", "team/app", "a/b/c"])
    digest = "sha256:" + _run(rnd, 64, "0123456789abcdef")
    plant = Plant(exchanges=[])
    ping = Exchange(id="1", method="GET", url=f"https://{registry}/v2/", started_at=1.0, status=401,
                    response_headers=[("WWW-Authenticate",
                                       f'Bearer realm="https://{auth_host}/token",service="{registry}"')])
    token = Exchange(id="2", method="GET", url=f"https://{auth_host}/token?scope=repository%3A{quote(repo, safe='')}"
                     f"%3Apull&service={registry}", started_at=2.0, status=200,
                     response_headers=[("Content-Type", "application/json")],
                     response_body_preview='{"expires_in":300}')
    manifest = Exchange(id="3", method="GET", url=f"https://{registry}/v2/{repo}/manifests/latest", started_at=3.0,
                        status=200, response_headers=[
                            ("Content-Type", "application/vnd.docker.distribution.manifest.v2+json"),
                            ("Docker-Content-Digest", "sha256:" + "0" * 64)],
                        response_body_preview=json.dumps({
                            "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 10,
                                       "digest": digest}, "layers": []}))
    location = f"https://{cdn}/docker/registry/v2/blobs/sha256/ab/{digest[7:]}/data"
    redirect = Exchange(id="4", method="GET", url=f"https://{registry}/v2/{repo}/blobs/{digest}", started_at=4.0,
                        status=307, response_headers=[("Location", location)])
    download = Exchange(id="5", method="GET", url=location, started_at=5.0, status=200,
                        response_headers=[("Content-Type", "application/octet-stream")], response_bytes=10)
    plant.exchanges = [ping, token, manifest, redirect, download]
    registry_steps = [manifest, redirect]
    for _ in range(rnd.randint(1, 6)):
        place = rnd.choice(PLACES)
        if place.__name__ in ONCE and not plant.claim(ONCE[place.__name__]):
            continue
        plant.places.append(place.__name__)
        place(rnd, plant, token=token, registry_steps=registry_steps, redirect=redirect, download=download,
              cdn=cdn)
    for ex in plant.exchanges:
        ex.secrets_masked = False
    return plant


def _bearer(rnd, plant, *, registry_steps, **_):
    secret = rnd.choice([jwt_secret, opaque_secret])(rnd)
    plant.needles.add(needle(secret))
    for ex in registry_steps:
        ex.request_headers.append(("Authorization", f"Bearer {secret}"))


def _basic(rnd, plant, *, token, **_):
    password = opaque_secret(rnd)
    credential = base64.b64encode(f"alice:{password}".encode()).decode()
    plant.needles.add(credential.rstrip("=")[-NEEDLE:])
    token.request_headers.append(("Authorization", f"Basic {credential}"))


def _secret_header(rnd, plant, *, token, registry_steps, **_):
    secret = any_secret(rnd)
    plant.needles.add(needle(secret))
    name = rnd.choice(SECRET_HEADERS + [f"X-{_random_header_name(rnd)[2:]}-{rnd.choice(['Token', 'Key', 'Secret'])}"])
    ex = rnd.choice([token] + registry_steps)
    (ex.request_headers if rnd.random() < 0.5 else ex.response_headers).append((name, secret))


def _credential_looking_header(rnd, plant, *, registry_steps, **_):
    secret = rnd.choice([opaque_secret, api_key_secret, jwt_secret])(rnd)
    plant.needles.add(needle(secret))
    value = secret if rnd.random() < 0.6 or secret.startswith("eyJ") else f"v=1 {jwt_secret(rnd)}"
    if value != secret:
        plant.needles.add(needle(value))
        plant.needles.discard(needle(secret))
    rnd.choice(registry_steps).response_headers.append((_random_header_name(rnd), value))


def _signed_location(rnd, plant, *, redirect, download, cdn, **_):
    url = _signed_url(rnd, cdn, plant)
    redirect.response_headers = [(k, v) for k, v in redirect.response_headers if k != "Location"]
    redirect.response_headers.append(("Location", url))
    download.url = url


def _link_header(rnd, plant, *, registry_steps, cdn, **_):
    url = _signed_url(rnd, cdn, plant)
    rnd.choice(registry_steps).response_headers.append(("Link", f'<{url}>; rel="blob", </v2/_catalog?n=1>; rel="next"'))


def _token_body(rnd, plant, *, token, **_):
    secret = rnd.choice([jwt_secret, opaque_secret])(rnd)
    plant.needles.add(needle(secret))
    token.response_body_preview = _wrap_json(rnd, _cased_key(rnd, rnd.choice(JSON_KEYS)), secret)


def _form_body(rnd, plant, *, token, **_):
    fields = [("grant_type", "password"), ("username", "alice"), ("client_id", "docker"), ("service", "r")]
    for name in rnd.sample(FORM_SECRETS, rnd.randint(1, 2)):
        secret = opaque_secret(rnd)
        plant.needles.add(needle(secret))
        fields.insert(rnd.randint(1, len(fields)), (name, secret))
    token.method = "POST"
    token.request_headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    token.request_body_preview = "&".join(f"{k}={v}" for k, v in fields)


def _cookies(rnd, plant, *, token, registry_steps, **_):
    a, b = opaque_secret(rnd), opaque_secret(rnd)
    plant.needles |= {needle(a), needle(b)}
    token.response_headers.append(("Set-Cookie", f"session={a}; Path=/; Secure; HttpOnly"))
    rnd.choice(registry_steps).request_headers.append(("Cookie", f"theme=dark; sid={b}"))


def _userinfo(rnd, plant, *, registry_steps, **_):
    password = opaque_secret(rnd)
    plant.needles.add(needle(password))
    ex = rnd.choice(registry_steps)
    ex.request_headers.append(("Referer", f"https://alice:{password}@{ex.url.split('/')[2]}/v2/"))


def _error_text(rnd, plant, *, redirect, download, cdn, **_):
    secret = any_secret(rnd)
    plant.needles.add(needle(secret))
    key = api_key_secret(rnd)  # a vendor's key in prose, no name around it
    plant.needles.add(needle(key))
    url = _signed_url(rnd, cdn, plant)
    download.error = rnd.choice([f"GET {url} failed: Bearer {secret} expired",
                                 f"upstream said: X-Auth-Token: {secret}\nwhile fetching {url}",
                                 f"token {secret} refused at https://bob:{secret}@{cdn}/ for {url}"])
    download.error += f"; the key {key} has no pull scope"


def _html_body(rnd, plant, *, redirect, cdn, **_):
    url = _signed_url(rnd, cdn, plant).replace("&", "&amp;")
    redirect.response_headers.append(("Content-Type", "text/html"))
    redirect.response_body_preview = f'<a href="{url}">Temporary Redirect</a>.'


def _json_error_body(rnd, plant, *, registry_steps, cdn, **_):
    url = _signed_url(rnd, cdn, plant).replace("&", "\\u0026")  # how Go's encoding/json writes it
    ex = registry_steps[0]
    ex.response_body_preview = '{"errors":[{"code":"DENIED","message":"see ' + url + '"}]}'


# Places that replace a whole value, by the value they replace.
ONCE = {"_signed_location": "location", "_token_body": "token-body", "_form_body": "token-request",
        "_error_text": "download-error", "_html_body": "redirect-body", "_json_error_body": "registry-body"}
PLACES = [_bearer, _basic, _secret_header, _credential_looking_header, _signed_location, _link_header,
          _token_body, _form_body, _cookies, _userinfo, _error_text, _html_body, _json_error_body]


def raw_text(plant: Plant) -> str:
    """Everything the raw exchanges hold, as text (JSON-decoded, so escapes do not hide a needle)."""
    parts = []
    for ex in plant.exchanges:
        parts += [ex.url, ex.error or "", ex.request_body_preview or "", ex.response_body_preview or ""]
        parts += [f"{k}: {v}" for k, v in ex.request_headers + ex.response_headers]
        for body in (ex.request_body_preview, ex.response_body_preview):
            try:
                parts.append(json.dumps(json.loads(body or ""), ensure_ascii=False))
            except ValueError:
                pass
    return "\n".join(parts)


def leaked(plant: Plant, text: str) -> list[str]:
    """The needles found in `text`, as they are or URL-encoded."""
    return sorted(n for n in plant.needles if n in text or quote(n, safe="") in text)


@settings(max_examples=100, deadline=None)
@given(st.randoms(use_true_random=True))
def test_every_needle_is_really_planted(rnd):
    plant = plant_pull(rnd)
    assert plant.needles
    assert leaked(plant, raw_text(plant)) == sorted(plant.needles)


def test_each_place_is_reachable():
    rnd = random.Random(7)
    seen: set[str] = set()
    for _ in range(300):
        seen.update(plant_pull(rnd).places)
    assert seen == {place.__name__ for place in PLACES}
