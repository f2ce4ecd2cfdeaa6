"""Configuration of each docker-registry (CNCF distribution 2.8) instance the lab runs.

Written as JSON, which is valid YAML, so no value ever needs YAML quoting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

from pulltrace.lab import users
from pulltrace.lab.endpoints import GITLAB_REALM_PATH, GITLAB_SERVICE, HARBOR_SERVICE
from pulltrace.lab.settings import LabSettings
from pulltrace.lab.token_service import ISSUER

BASIC_REALM = "pulltrace lab basic"


@dataclass(frozen=True)
class RegistrySpec:
    name: str
    port: int
    host: str                    # 127.0.0.1 behind nginx; plain listens for clients itself
    config: dict[str, Any]
    after_hub: bool = False      # a pull-through cache pings its upstream at start and panics if it is down

    @property
    def probe(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/"

    def text(self) -> str:
        return json.dumps(self.config, indent=2, sort_keys=True) + "\n"


def _base(name: str, addr: str, storage: Path, secret: str) -> dict[str, Any]:
    return {
        "version": "0.1",
        "log": {"level": "info", "formatter": "text", "fields": {"service": f"pulltrace-lab-{name}"}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            # Several registries share one storage directory: none may purge another's uploads.
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": addr, "secret": secret, "relativeurls": False,
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "health": {"storagedriver": {"enabled": False}},
    }


def _token_auth(realm: str, service: str, bundle: Path) -> dict[str, Any]:
    return {"token": {"realm": realm, "service": service, "issuer": ISSUER, "rootcertbundle": str(bundle)}}


def _redirect(baseurl: str) -> dict[str, Any]:
    # distribution keeps only scheme and host of baseurl; the path is the storage path,
    # so an nginx whose root is the storage directory serves the redirect target.
    return {"storage": [{"name": "redirect", "options": {"baseurl": baseurl}}]}


def htpasswd_text(existing: str = "") -> str:
    """bcrypt entries for the lab users (docker-registry's htpasswd accepts bcrypt only).

    `existing` is kept when it still matches every user, so a second `lab up` changes nothing.
    """
    current = dict(line.split(":", 1) for line in existing.splitlines() if ":" in line)
    lines = []
    for user in users.USERS.values():
        assert user.password is not None
        old = current.get(user.name, "")
        if old and bcrypt.checkpw(user.password.encode(), old.encode()):
            lines.append(f"{user.name}:{old}")
        else:
            hashed = bcrypt.hashpw(user.password.encode(), bcrypt.gensalt(rounds=10)).decode()
            lines.append(f"{user.name}:{hashed}")
    return "\n".join(lines) + "\n"


def registry_specs(s: LabSettings, signing_cert: Path, htpasswd: Path) -> list[RegistrySpec]:
    p = s.ports
    st = s.paths.storage
    secret = hashlib.sha256(f"pulltrace-lab:{s.state_dir}".encode()).hexdigest()
    loop = "127.0.0.1"

    hub = _base("hub", f"{loop}:{p.hub}", st, secret)
    hub["auth"] = _token_auth(f"{s.https_base('auth')}/token", s.host("hub"), signing_cert)
    hub["middleware"] = _redirect(s.https_base("cdn"))

    gcr = _base("gcr", f"{loop}:{p.gcr}", st, secret)
    gcr["auth"] = _token_auth(f"{s.https_base('gcr')}/v2/token", s.host("gcr"), signing_cert)
    gcr["middleware"] = _redirect(s.https_base("cdn"))  # nginx turns this 307 into gcr's 302

    basic = _base("basic", f"{loop}:{p.basic}", st, secret)
    basic["auth"] = {"htpasswd": {"realm": BASIC_REALM, "path": str(htpasswd)}}

    harbor = _base("harbor", f"{loop}:{p.harbor}", st, secret)
    harbor["auth"] = _token_auth(f"{s.https_base('harbor')}/service/token", HARBOR_SERVICE, signing_cert)

    plain = _base("plain", f"{loop}:{p.plain}", st, secret)

    # Self-hosted GitLab: the realm is on the GitLab host, not the registry's, under a path.
    gitlab = _base("gitlab", f"{loop}:{p.gitlab}", st, secret)
    gitlab["auth"] = _token_auth(f"{s.https_base('gitlab')}{GITLAB_REALM_PATH}", GITLAB_SERVICE, signing_cert)

    mirror = _base("mirror", f"{loop}:{p.mirror}", s.paths.mirror_storage, secret)
    mirror["proxy"] = {"remoteurl": s.https_base("hub"), "username": users.ADMIN.name,
                       "password": users.ADMIN.password}
    mirror["middleware"] = _redirect(s.https_base("mirror-cdn"))

    return [
        RegistrySpec("hub", p.hub, loop, hub),
        RegistrySpec("gcr", p.gcr, loop, gcr),
        RegistrySpec("basic", p.basic, loop, basic),
        RegistrySpec("harbor", p.harbor, loop, harbor),
        RegistrySpec("plain", p.plain, loop, plain),
        RegistrySpec("gitlab", p.gitlab, loop, gitlab),
        RegistrySpec("mirror", p.mirror, loop, mirror, after_hub=True),
    ]
