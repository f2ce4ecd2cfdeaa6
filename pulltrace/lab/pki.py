"""The lab's certificates: a CA, one server certificate for every lab hostname, a token signer.

Created once and reused (a second `lab up` must not change what clients already trust).
The CA goes into the system store so skopeo, ctr, curl and Go daemons trust the lab.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pulltrace.lab.settings import write_atomic

SYSTEM_CA_DIR = Path("/usr/local/share/ca-certificates")
SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class Pki:
    """Paths of the lab's PEM files."""

    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.dir / "server.key"

    @property
    def signing_cert(self) -> Path:
        """The token signer's self-signed certificate; also the registries' `rootcertbundle`."""
        return self.dir / "token-signing.crt"

    @property
    def signing_key(self) -> Path:
        return self.dir / "token-signing.key"

    @property
    def bundle(self) -> Path:
        """System roots + lab CA, for the `SSL_CERT_FILE` of Go processes the lab starts."""
        return self.dir / "bundle.pem"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pulltrace lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _now() -> dt.datetime:
    # Back-dated a day so a clock a little behind still accepts the certificates.
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=1)


def _make_ca(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("pulltrace lab CA")).issuer_name(_name("pulltrace lab CA"))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_atomic(pki.ca_key, _pem_key(key), mode=0o600)
    write_atomic(pki.ca_cert, _pem_cert(cert))


def _server_sans(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    return set(ext.value.get_values_for_type(x509.DNSName))


def _make_server(pki: Pki, hostnames: list[str]) -> None:
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        # The lab makes its CA key itself (P-256); anything else was put there by hand.
        raise ValueError(f"{pki.ca_key}: not the lab's EC CA key; run `pulltrace lab down --purge`, then `lab up`")
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    sans += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostnames[0])).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write_atomic(pki.server_key, _pem_key(key), mode=0o600)
    write_atomic(pki.server_cert, _pem_cert(cert) + pki.ca_cert.read_bytes())


def _make_signer(pki: Pki) -> None:
    # RS256: what distribution's token auth and every client expect from Docker Hub.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("pulltrace lab token signer")).issuer_name(_name("pulltrace lab token signer"))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    write_atomic(pki.signing_key, _pem_key(key), mode=0o600)
    write_atomic(pki.signing_cert, _pem_cert(cert))


def ensure_pki(pki_dir: Path, hostnames: list[str]) -> Pki:
    """Create what is missing; a server cert lacking a hostname is re-issued from the same CA."""
    pki = Pki(pki_dir)
    pki_dir.mkdir(parents=True, exist_ok=True)
    if not (pki.ca_cert.exists() and pki.ca_key.exists()):
        _make_ca(pki)
        pki.server_cert.unlink(missing_ok=True)
    if not (pki.server_cert.exists() and pki.server_key.exists()) or not set(hostnames) <= _server_sans(
        x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
    ):
        _make_server(pki, hostnames)
    if not (pki.signing_cert.exists() and pki.signing_key.exists()):
        _make_signer(pki)
    return pki


def system_ca_path(domain: str) -> Path:
    """`pulltrace-lab.crt` for the default domain; one file per domain, so labs can coexist."""
    suffix = "" if domain == "pulltrace.test" else "-" + domain
    return SYSTEM_CA_DIR / f"pulltrace-lab{suffix}.crt"


def install_system_trust(pki: Pki, domain: str) -> bool:
    """Put the CA in the system store (Debian's way); returns True when the store changed.

    Go loads the pool once per process: daemons started before this must be restarted.
    """
    changed = write_atomic(system_ca_path(domain), pki.ca_cert.read_bytes(), mode=0o644)
    bundle_has_ca = SYSTEM_BUNDLE.exists() and pki.ca_cert.read_bytes().strip() in SYSTEM_BUNDLE.read_bytes()
    if changed or not bundle_has_ca:
        subprocess.run(["update-ca-certificates"], check=True, capture_output=True)
    system = SYSTEM_BUNDLE.read_bytes() if SYSTEM_BUNDLE.exists() else b""
    if pki.ca_cert.read_bytes().strip() not in system:
        system += b"\n" + pki.ca_cert.read_bytes()
    write_atomic(pki.bundle, system)
    return changed


def remove_system_trust(domain: str) -> None:
    path = system_ca_path(domain)
    if path.exists():
        path.unlink()
        if shutil.which("update-ca-certificates"):
            subprocess.run(["update-ca-certificates", "--fresh"], check=False, capture_output=True)


def ca_bundle_with(pki: Pki, extra: list[Path]) -> bytes:
    """The lab CA plus any extra CA files that exist (e.g. mitmproxy's), as one PEM."""
    out = pki.ca_cert.read_bytes()
    for path in extra:
        if path.exists():
            out += b"\n" + path.read_bytes()
    return out
