"""Who trusts whom during a capture, for this run only.

The child command must trust the proxy's CA, and mitmproxy must trust what the machine
trusts (not only its bundled certifi list, so a private registry the system trusts works).
Both are PEM bundles written into the run's temporary directory; nothing in the system
store, in ~/.mitmproxy or in a client's configuration changes, so nothing is left behind.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pulltrace.errors import UserError

# Where distributions keep the system bundle: the list Go's crypto/x509 reads (root_linux.go).
SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Gentoo, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL 6
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/pki/tls/cacert.pem",  # OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # CentOS, RHEL 7
    "/etc/ssl/cert.pem",  # Alpine
)
MITMPROXY_CA = "mitmproxy-ca-cert.pem"

# Variables through which clients find their CA bundle. Go (skopeo, podman, containerd,
# crane, regctl, oras, helm, dockerd) and OpenSSL read SSL_CERT_FILE; Python's requests
# REQUESTS_CA_BUNDLE; curl CURL_CA_BUNDLE; git GIT_SSL_CAINFO. Each gets the full bundle.
BUNDLE_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO")
# Node adds this file to its own list, so it gets the proxy's CA alone.
EXTRA_CA_VARIABLES = ("NODE_EXTRA_CA_CERTS",)
# For a client that takes a CA flag instead (`ctr --tlscacert "$PULLTRACE_CA_CERT"`).
CA_CERT_VARIABLE = "PULLTRACE_CA_CERT"


def system_bundle(env: Mapping[str, str] | None = None) -> Path | None:
    """The bundle this machine's clients trust: SSL_CERT_FILE if set, else the distribution's file."""
    env = os.environ if env is None else env
    candidates = [env.get("SSL_CERT_FILE", ""), ssl.get_default_verify_paths().cafile or "", *SYSTEM_BUNDLES]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    try:
        import certifi
    except ImportError:
        return None
    return Path(certifi.where())


def read_pem(path: Path, what: str) -> bytes:
    """The certificates in `path`; one line naming the file when it holds none."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"{what} {path}: cannot read: {e.strerror or e}") from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UserError(f"{what} {path}: no PEM certificate in it; give a PEM file of CA certificates")
    return data


def write_bundle(path: Path, parts: Sequence[bytes]) -> Path:
    """Concatenate PEM `parts` into `path` (each ends with a newline, as PEM readers expect)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts))
    return path


@dataclass(frozen=True)
class RunTrust:
    """The files of one run: the proxy's CA, what the child trusts, what mitmproxy trusts upstream."""

    proxy_ca: Path
    client_bundle: Path
    upstream_bundle: Path

    def client_env(self) -> dict[str, str]:
        """Variables that make a child trust the proxy (and everything it trusted before)."""
        env = {name: str(self.client_bundle) for name in BUNDLE_VARIABLES}
        env.update({name: str(self.proxy_ca) for name in EXTRA_CA_VARIABLES})
        env[CA_CERT_VARIABLE] = str(self.proxy_ca)
        return env


def upstream_bundle(directory: Path, extra_cas: Sequence[Path] = ()) -> Path:
    """The bundle mitmproxy verifies registries with: the system's plus each `--ca-cert`."""
    parts = []
    system = system_bundle()
    if system is not None:
        parts.append(system.read_bytes())
    parts += [read_pem(p, "--ca-cert") for p in extra_cas]
    if not parts:
        raise UserError("no CA bundle found on this machine (install ca-certificates) and no --ca-cert given")
    return write_bundle(directory / "upstream-ca.pem", parts)


def run_trust(directory: Path, confdir: Path, upstream: Path) -> RunTrust:
    """Once mitmproxy has made its CA in `confdir`: the child's bundle = the system's + that CA."""
    proxy_ca = confdir / MITMPROXY_CA
    parts = []
    system = system_bundle()
    if system is not None:
        parts.append(system.read_bytes())
    parts.append(read_pem(proxy_ca, "mitmproxy's CA"))
    client = write_bundle(directory / "client-ca.pem", parts)
    return RunTrust(proxy_ca=proxy_ca, client_bundle=client, upstream_bundle=upstream)
