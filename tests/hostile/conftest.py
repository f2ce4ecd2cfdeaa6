"""Fixtures for the hostile-registry tests: relays in front of the running lab's real servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from relay import Handler, HostileRelay, passthrough, untrusted_certificate


@pytest.fixture(scope="session")
def untrusted_cert(lab, tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate naming every lab host: valid names, a CA no client trusts."""
    return untrusted_certificate(tmp_path_factory.mktemp("untrusted"), lab.settings.hostnames)


@pytest.fixture
def relay(lab, untrusted_cert) -> Iterator[Callable[..., HostileRelay]]:
    """`relay("hub", handler, trusted=True)`: a relay in front of a lab endpoint, closed after the test.

    Trusted relays present the lab's own certificate (it names every lab host); untrusted
    ones a self-signed certificate for the same names; `tls=False` speaks plain HTTP.
    """
    opened: list[HostileRelay] = []

    def start(name: str, handler: Handler = passthrough, *, trusted: bool = True, tls: bool = True) -> HostileRelay:
        cert = None
        if tls:
            cert = (lab.pki.server_cert, lab.pki.server_key) if trusted else untrusted_cert
        r = HostileRelay(lab.url(name), lab.ca_path, cert=cert, handler=handler)
        opened.append(r)
        return r

    yield start
    for r in opened:
        r.close()
