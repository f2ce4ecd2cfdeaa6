"""Connections that never became a registry answer, captured from real clients through a real
mitmdump with the addon: a client that does not trust mitmproxy's CA, an upstream that cannot
be reached, a plain-HTTP registry asked for HTTPS.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from capturehelpers import proxy_env

from devtools.mitmdump import free_port

pytestmark = pytest.mark.lab


def _steps(mitm):
    """Every step of what the addon wrote to pulltrace.jsonl, in session order."""
    mitm.stop()
    lines = (mitm.out / "pulltrace.jsonl").read_text().splitlines()
    return [step for line in lines[1:] for step in json.loads(line)["steps"]]


def _wire(step) -> tuple:
    ex = step["exchange"]
    return ex["method"], ex["url"], ex["status"], ex["error"]


@pytest.fixture
def failing_daemon(lab, mitm):
    """A lab dockerd of these tests' own whose proxy is our mitmdump."""
    d = lab.docker("capture-failures", proxy=mitm.url)
    d.forget_images()
    return d


def test_skopeo_without_mitmproxys_ca_is_a_rejected_certificate(lab, mitm):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    proc = subprocess.run(["skopeo", "inspect", "--retry-times", "0", f"docker://{lab.host('hub')}/library/tiny"],
                          env=proxy_env(mitm), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0 and "x509: certificate signed by unknown authority" in proc.stderr, proc.stderr
    steps = _steps(mitm)
    assert steps, mitm.console()[-2000:]
    for step in steps:  # skopeo may try more than once; each try is one step
        method, url, status, error = _wire(step)
        assert (method, url, status) == ("CONNECT", f"https://{lab.host('hub')}:443/", None)
        assert error.startswith("client rejected the proxy's certificate: The client does not trust the "
                                f"proxy's certificate for {lab.host('hub')}"), error
        assert step["exchange"]["client"].startswith("127.0.0.1:")


def test_docker_falls_back_to_plain_http_when_the_https_tunnel_cannot_connect(lab, mitm, failing_daemon):
    # plain.pulltrace.test resolves into 127.0.0.0/8, so dockerd treats it as insecure: when its
    # https:// attempt fails it retries over http://. Nothing listens on this port.
    host = f"{lab.host('plain').split(':')[0]}:{free_port()}"
    proc = failing_daemon.docker("pull", f"{host}/library/tiny", check=False)
    assert proc.returncode != 0
    wire = [_wire(s) for s in _steps(mitm)]
    tunnels = [w for w in wire if w[0] == "CONNECT"]
    plain = [w for w in wire if w[0] != "CONNECT"]
    # One CONNECT: dockerd gives up https:// after its first refused tunnel.
    assert [(m, u, s) for m, u, s, _ in tunnels] == [("CONNECT", f"https://{host}/", None)]
    assert tunnels[0][3].startswith("connect: ") and "Connect call failed" in tunnels[0][3]
    # Then plain http://, through the proxy as absolute-form requests, each failing to connect;
    # each is one step (the request), not also a second connect failure.
    assert [(m, u) for m, u, _, _ in plain] == [
        ("GET", f"http://{host}/v2/"),
        ("HEAD", f"http://{host}/v2/library/tiny/manifests/latest"),
        ("GET", f"http://{host}/v2/library/tiny/manifests/latest"),
    ]
    assert all(s is None and "Connect call failed" in e for _, _, s, e in plain)
    assert wire.index(tunnels[0]) < wire.index(plain[0])


def test_a_plain_http_registry_asked_for_https_fails_its_tls(lab, mitm, failing_daemon):
    # mitmproxy connects upstream first; the registry answers TLS with plain HTTP. mitmproxy then
    # completes the client's handshake anyway and answers 502, so dockerd sees an HTTPS answer and
    # does not fall back to http:// as it would without the proxy.
    host = lab.host("plain")
    proc = failing_daemon.docker("pull", f"{host}/library/tiny", check=False)
    assert proc.returncode != 0 and "502 Bad Gateway" in proc.stderr, proc.stderr
    wire = [_wire(s) for s in _steps(mitm)]
    assert [(m, u, s) for m, u, s, _ in wire] == [
        ("GET", f"https://{host}/v2/", None),
        ("HEAD", f"https://{host}/v2/library/tiny/manifests/latest", None),
        ("GET", f"https://{host}/v2/library/tiny/manifests/latest", None),
    ]
    # The request carries the TLS failure; mitmproxy's tls_failed_server for the same connection
    # is not a second step.
    assert {e for *_, e in wire} == {"The remote server does not speak TLS."}
