"""Registry credentials the way the docker CLI finds them.

Order for a registry host: `credHelpers[host]`, then `credsStore`, then `auths[host]`
(`auth` as base64 `user:pass`, or `username`/`password`, and `identitytoken` — the refresh
token `docker login` keeps when the token service issued one). The file is
`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. Helpers are the
`docker-credential-<name>` programs on PATH, spoken to over stdin/stdout.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pulltrace.client.errors import AuthError
from pulltrace.reference import DOCKER_HUB

# Docker Hub's credentials live under the v1 index URL, for historical reasons.
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})
# A helper answers Username "<token>" when Secret is an identity (refresh) token.
IDENTITY_TOKEN_USERNAME = "<token>"

Runner = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""

    def __repr__(self) -> str:  # never print secrets by accident
        token = "***" if self.identity_token else ""
        return f"Credentials(username={self.username!r}, password=***, identity_token={token!r})"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "config.json"
    return Path(env.get("HOME") or Path.home()) / ".docker" / "config.json"


def config_key(host: str) -> str:
    """The key docker files a registry's credentials under."""
    return DOCKER_HUB_CONFIG_KEY if host in _HUB_NAMES else host


def _hostname_of_key(key: str) -> str:
    # docker's ConvertToHostname: `https://host/v2/` and `host` name the same registry.
    for prefix in ("http://", "https://"):
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    return key.split("/", 1)[0]


def load_config(env: Mapping[str, str] | None = None) -> dict:
    path = config_path(env)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise AuthError(f"cannot read docker config {path}: {e}; fix or move the file") from e
    if not isinstance(data, dict):
        raise AuthError(f"docker config {path} is not a JSON object; fix or move the file")
    return data


def lookup(host: str, env: Mapping[str, str] | None = None, run: Runner = subprocess.run) -> Credentials | None:
    """Credentials for registry `host` from docker's config and helpers, or None (anonymous)."""
    config = load_config(env)
    key = config_key(host)
    helpers = config.get("credHelpers") or {}
    helper = helpers.get(key) or helpers.get(host)
    if helper:
        return from_helper(helper, key, env, run)
    auths = config.get("auths") or {}
    entry = _find_auth_entry(auths, host)
    if config.get("credsStore"):
        found = from_helper(config["credsStore"], key, env, run)
        if found:
            return found
    return _from_entry(entry) if entry else None


def _find_auth_entry(auths: Mapping[str, dict], host: str) -> dict | None:
    key = config_key(host)
    if key in auths:
        return auths[key]
    wanted = _hostname_of_key(key)
    for name, entry in auths.items():
        name_host = _hostname_of_key(name)
        if name_host == wanted or (host in _HUB_NAMES and name_host in _HUB_NAMES):
            return entry
    return None


def _from_entry(entry: dict) -> Credentials | None:
    username = entry.get("username") or ""
    password = entry.get("password") or ""
    if entry.get("auth"):
        try:
            username, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise AuthError("docker config holds a malformed `auth` value; run `docker login` again") from None
    token = entry.get("identitytoken") or ""
    if not (username or password or token):
        return None
    return Credentials(username, password, token)


def from_helper(helper: str, server: str, env: Mapping[str, str] | None = None,
                run: Runner = subprocess.run) -> Credentials | None:
    """Ask `docker-credential-<helper> get` for `server`; None when it has nothing stored."""
    program = f"docker-credential-{helper}"
    try:
        done = run([program, "get"], input=server.encode(), capture_output=True, timeout=30,
                   env=dict(env) if env is not None else None)
    except FileNotFoundError:
        raise AuthError(f"docker config names credential helper {helper!r} but {program} is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise AuthError(f"{program} did not answer within 30 s") from None
    out = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0:
        # Every helper says "credentials not found" in its own words; treat it as anonymous.
        if "not found" in (out + done.stderr.decode(errors="replace")).lower():
            return None
        raise AuthError(f"{program} get failed: {(out or done.stderr.decode(errors='replace')).strip()[:200]}")
    try:
        data = json.loads(out)
        username, secret = data.get("Username", ""), data["Secret"]
    except (ValueError, KeyError, TypeError):
        raise AuthError(f"{program} get answered something that is not credentials JSON") from None
    if username == IDENTITY_TOKEN_USERNAME:
        return Credentials(identity_token=secret)
    return Credentials(username, secret)
