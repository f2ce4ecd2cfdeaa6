"""Trust failures seen by the proxy, said in plain words at the end of a capture.

The two commonest ways a capture fails never reach the trace as an HTTP exchange: the
client rejects the proxy's certificate (mitmproxy's `tls_failed_client`), or mitmproxy
cannot verify the registry (`tls_failed_server`, the client then sees a 502 "certificate
verify failed"). This addon keeps one record per (kind, host) from mitmproxy's hooks —
bounded by the number of hosts, not of handshakes — and `summary_lines` turns them into
one line each that names the host and the fix.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

CLIENT_REJECTED = "client-rejected"
CLIENT_CLOSED = "client-closed"
UPSTREAM_UNVERIFIED = "upstream-unverified"
UPSTREAM_TLS = "upstream-tls"
UNREACHABLE = "unreachable"


@dataclass
class TrustEvent:
    kind: str
    host: str
    error: str
    count: int = 1


def _host_of(conn: Any) -> str:
    sni = getattr(conn, "sni", None)
    address = getattr(conn, "address", None) or getattr(conn, "peername", None)
    if sni:
        return str(sni)
    if address:
        host, port = address[0], address[1]
        return f"{host}:{port}"
    return "an unknown host"


def client_rejected(error: str) -> bool:
    """Whether a failed client handshake means the client did not trust the proxy's certificate.

    mitmproxy words it "does not trust" (an alert: unknown ca, bad certificate — curl, Go)
    or "may not trust" (another alert). A client that "disconnected during the handshake"
    may have refused the certificate silently or merely gone away: `client_closed`.
    """
    low = error.lower()
    if client_closed(error):
        return False
    return any(w in low for w in ("trust the proxy", "unknown ca", "bad certificate", "certificate unknown"))


def client_closed(error: str) -> bool:
    return "disconnected during the handshake" in error.lower()


def upstream_unverified(error: str) -> bool:
    low = error.lower()
    return "certificate verify failed" in low or "self-signed certificate" in low or "self signed" in low


class TrustWatch:
    """mitmproxy addon: records handshakes that failed on either side, and unreachable upstreams."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], TrustEvent] = {}
        self.lock = threading.Lock()

    def add(self, kind: str, host: str, error: str) -> None:
        with self.lock:
            event = self.events.get((kind, host))
            if event is None:
                self.events[(kind, host)] = TrustEvent(kind, host, error)
            else:
                event.count += 1

    def tls_failed_client(self, data: Any) -> None:
        error = str(getattr(data.conn, "error", "") or "")
        host = _host_of(data.conn) if data.conn.sni else _host_of(data.context.server)
        if client_rejected(error):
            self.add(CLIENT_REJECTED, host, error)
        elif client_closed(error):
            self.add(CLIENT_CLOSED, host, error)

    def tls_failed_server(self, data: Any) -> None:
        error = str(getattr(data.conn, "error", "") or "")
        kind = UPSTREAM_UNVERIFIED if upstream_unverified(error) else UPSTREAM_TLS
        self.add(kind, _host_of(data.conn), error)

    def server_connect_error(self, data: Any) -> None:
        server = data.server
        error = str(getattr(server, "error", "") or "")
        if upstream_unverified(error):
            self.add(UPSTREAM_UNVERIFIED, _host_of(server), error)
        elif server.address is not None:
            self.add(UNREACHABLE, f"{server.address[0]}:{server.address[1]}", error)

    def snapshot(self) -> list[TrustEvent]:
        with self.lock:
            return [TrustEvent(e.kind, e.host, e.error, e.count) for e in self.events.values()]


# Each client's own way to be told a CA, for one whose handshake failed anyway.
CA_FLAGS = {
    "curl": '--cacert "$PULLTRACE_CA_CERT"',
    "ctr": '--tlscacert "$PULLTRACE_CA_CERT"',
    "skopeo": '--cert-dir "$PULLTRACE_CERT_DIR" (--src-cert-dir for copy)',
    "podman": '--cert-dir "$PULLTRACE_CERT_DIR"',
    "buildah": '--cert-dir "$PULLTRACE_CERT_DIR"',
    "wget": '--ca-certificate="$PULLTRACE_CA_CERT"',
    "java": '-Djavax.net.ssl.trustStore=… (a keystore holding $PULLTRACE_CA_CERT)',
}


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


# Programs that run the real client: a failure is the client's, not theirs.
LAUNCHERS = frozenset({"sh", "bash", "dash", "zsh", "env", "timeout", "nice", "xargs", "make"})


def summary_lines(events: list[TrustEvent], client: str | None = None, *, mirror: bool = False,
                  failed: bool = True) -> list[str]:
    """One plain line per failure: who refused whom, for which host, and what to do.

    `client` names the program whose handshakes these were (e.g. `skopeo`, or `dockerd` for a
    `docker` command); `mirror` words the fix for `pulltrace mirror`, where no client trusts
    the proxy's CA and only the upstream side can fail. A handshake the client merely closed
    is mentioned only when the command `failed`: a client that gives up a connection is normal.
    """
    who = "the client" if not client else f"a client run by {client}" if client in LAUNCHERS else client
    lines = []
    for e in sorted(events, key=lambda e: (e.kind, e.host)):
        if e.kind == CLIENT_CLOSED and failed:
            lines.append(
                f"{who} closed {e.count} TLS handshake{'s' if e.count > 1 else ''} "
                f"with the proxy for {e.host} without a word: if it failed on trust, it may not use the CA "
                f"pulltrace gave it in SSL_CERT_FILE; its own CA option can take \"$PULLTRACE_CA_CERT\".")
        elif e.kind == CLIENT_REJECTED:
            flag = CA_FLAGS.get(who, 'its own CA option and "$PULLTRACE_CA_CERT"')
            lines.append(
                f"{who} rejected the proxy's certificate for {e.host} ({_times(e.count)}): it does not use the CA "
                f"pulltrace gave it in SSL_CERT_FILE. Give it the proxy's CA with {flag} "
                f"(pulltrace sets $PULLTRACE_CA_CERT and $PULLTRACE_CERT_DIR for it), or capture it with "
                f"`pulltrace mirror`, which needs no CA."
            )
        elif e.kind == UPSTREAM_UNVERIFIED:
            lines.append(
                f"mitmproxy could not verify {e.host}'s certificate ({e.error}): this is the proxy's trust, not "
                f"{who}'s. It trusts this machine's CA store; if {e.host} has a private CA, pass --ca-cert FILE "
                f"(that CA, PEM) to pulltrace {'mirror' if mirror else 'capture'}."
            )
        elif e.kind == UPSTREAM_TLS:
            lines.append(f"mitmproxy's TLS handshake with {e.host} failed ({e.error}).")
        elif e.kind == UNREACHABLE:
            lines.append(f"mitmproxy could not reach {e.host}: {e.error}.")
    return lines
