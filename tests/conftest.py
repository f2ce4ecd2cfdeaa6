"""Shared fixtures. `lab`: the running lab (real registries, nginx, dockerd) for marked tests.

The fixture reuses a lab that is already up and healthy (and then leaves it running);
otherwise it brings one up and takes it down at the end of the session. It needs root
(the lab edits /etc/hosts and the trust store); without root the lab tests are skipped.

    @pytest.mark.lab
    def test_something(lab):
        lab.url("hub")                      # https://hub.pulltrace.test
        lab.host("hub")                     # hub.pulltrace.test (for image references)
        lab.images["library/tiny"].digest   # manifest digest; .config_digest, .layers, .platforms
        lab.ca_path                         # lab CA (PEM)
        lab.client()                        # httpx.Client trusting the lab CA, no auto-redirects
        lab.endpoints["hub"].service        # hub.pulltrace.test: the challenge's service, the token's aud
        lab.token("alice", "repository:team/app:pull")          # service defaults to hub's
        d = lab.docker()                    # lab dockerd: d.host, d.docker("pull", …), d.containerd_address
        d = lab.docker("proxied", proxy="http://127.0.0.1:8080")  # one daemon per proxy
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


class _LabHandle:
    """`pulltrace.lab.Lab` plus a token helper for tests."""

    def __init__(self, lab) -> None:
        self._lab = lab

    def __getattr__(self, name: str):
        return getattr(self._lab, name)

    def token(self, user: str | None, *scopes: str, service: str | None = None,
              password: str | None = None) -> str:
        """A token from the lab's token service, fetched over HTTPS like a client would."""
        from pulltrace.lab.users import USERS

        params = [("service", service or self._lab.endpoints["hub"].service)] + [("scope", s) for s in scopes]
        auth = None
        if user:
            auth = (user, password if password is not None else USERS[user].password)
        with self._lab.client() as client:
            resp = client.get(self._lab.url("auth") + "/token", params=params, auth=auth)
        resp.raise_for_status()
        return resp.json()["token"]


@pytest.fixture(scope="session")
def lab() -> Iterator[_LabHandle]:
    from pulltrace.errors import UserError
    from pulltrace.lab import Lab
    from pulltrace.lab.lab import preflight

    try:
        preflight()  # root, docker-registry, nginx, dockerd…: without them, skip rather than fail
    except UserError as e:
        pytest.skip(f"the lab cannot run here: {e}")
    handle = Lab.load()
    started = False
    if not handle.healthy():
        handle.up(progress=lambda step: print(f"lab: {step}", file=sys.stderr))
        started = True
    yield _LabHandle(handle)
    if started:
        handle.down()
