"""mitmdump as a child process: the command line, and a real start, capture and SIGINT stop."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devtools.mitmdump import Mitmdump, MitmdumpError, default_addon, free_port, mitmdump_command
from pulltrace.lab.settings import ephemeral_ports

ROOT = Path(__file__).resolve().parents[3]


def _settings(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]


def test_command_names_the_addon_the_port_the_upstream_ca_and_the_outputs(tmp_path):
    argv = mitmdump_command(port=8123, confdir=tmp_path / "conf", upstream_ca=tmp_path / "ca.pem", out=tmp_path / "out",
                            outputs=("console", "json"), options=("flow_detail=0",))
    assert Path(argv[0]).name == "mitmdump"
    assert argv[argv.index("-s") + 1] == str(ROOT / "addons" / "pulltrace.py") == str(default_addon())
    assert argv[argv.index("--listen-host") + 1] == "127.0.0.1" and argv[argv.index("-p") + 1] == "8123"
    assert _settings(argv) == [f"confdir={tmp_path / 'conf'}", f"ssl_verify_upstream_trusted_ca={tmp_path / 'ca.pem'}",
                               "flow_detail=0", f"pulltrace_dir={tmp_path / 'out'}", "pulltrace_outputs=console,json"]


def test_bare_command_has_no_addon_and_no_addon_options(tmp_path):
    argv = mitmdump_command(port=1, confdir=tmp_path, with_addon=False, quiet=True, options=("stream_large_bodies=1m",))
    assert "-s" not in argv and "-q" in argv
    assert not [s for s in _settings(argv) if s.startswith(("pulltrace_", "ssl_verify"))]


class _Registry(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_started_mitmdump_captures_and_writes_its_trace_when_stopped(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port, out = free_port(), tmp_path / "out"
    argv = mitmdump_command(port=port, confdir=tmp_path / "conf", out=out, outputs=("json",),
                            options=("pulltrace_idle=0",))
    try:
        with Mitmdump.start(argv, log=out / "mitmdump.log", cwd=out, port=port) as mitm:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": mitm.url}))
            with opener.open(f"http://127.0.0.1:{server.server_port}/v2/", timeout=10) as resp:
                assert resp.status == 200
            assert mitm.stop() == 0  # SIGINT: a clean shutdown, the addon's outputs written
    finally:
        server.shutdown()
    trace = json.loads((out / "pulltrace.json").read_text())
    (session,) = trace["sessions"]
    assert [s["kind"] for s in session["steps"]] == ["ping"]


def test_a_mitmdump_that_cannot_start_is_a_clear_error(tmp_path):
    port = free_port()
    argv = mitmdump_command(port=port, confdir=tmp_path, addon=tmp_path / "missing.py")
    with pytest.raises(MitmdumpError, match=r"(?s)exited at start.*No such script"):
        Mitmdump.start(argv, log=tmp_path / "mitmdump.log", port=port)


def test_free_ports_are_ones_no_outgoing_connection_can_take_and_never_handed_out_twice():
    low, high = ephemeral_ports()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert not any(low <= p <= high for p in ports)
    with socket.create_server(("127.0.0.1", ports[0])):
        pass  # bindable by a server, as mitmdump will
