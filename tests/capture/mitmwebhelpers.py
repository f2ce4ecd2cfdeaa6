"""A real mitmweb with the pulltrace addon, for the tests that read its HTTP API or open its UI.

mitmweb 11 answers its API without a token; mitmweb 12 wants its `web_password` (as
`Authorization: Bearer …` on the API, `?token=…` once in a browser, which then keeps a
cookie). Both lines are driven the same way here, so these tests run on either venv.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from mitmproxy import version

from devtools.mitmdump import Mitmdump, free_port, mitmdump_executable

ROOT = Path(__file__).resolve().parents[2]
MITMPROXY12 = int(version.VERSION.split(".")[0]) >= 12


class Mitmweb:
    def __init__(self, proxy: Mitmdump, web_port: int, password: str, certs: Path) -> None:
        self.proxy, self.web_port, self.password, self.certs = proxy, web_port, password, certs
        self.base = f"http://127.0.0.1:{web_port}"

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def ui_url(self) -> str:
        """What a user opens: on 12 the token is given once, then a cookie keeps the session."""
        return f"{self.base}/?token={self.password}" if MITMPROXY12 else f"{self.base}/"

    def get(self, path: str) -> httpx.Response:
        answer = httpx.get(self.base + path, headers={"Authorization": f"Bearer {self.password}"}, timeout=30)
        answer.raise_for_status()
        return answer

    def flows(self) -> list[dict[str, Any]]:
        return [f for f in self.get("/flows").json() if f["type"] == "http"]

    def named_flows(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The flows, once every one carries a comment: pulls close when complete or quiet."""
        deadline = time.monotonic() + timeout
        while True:
            flows = self.flows()
            if flows and all(f["comment"] for f in flows) or time.monotonic() > deadline:
                return sorted(flows, key=lambda f: f["request"]["timestamp_start"])
            time.sleep(0.5)


@contextmanager
def mitmweb(lab: Any, tmp_path: Path, options: Sequence[str] = ()) -> Iterator[Mitmweb]:
    port, web_port = free_port(), free_port()
    confdir = tmp_path / "conf"
    password = secrets.token_hex(16)
    argv = [str(mitmdump_executable().with_name("mitmweb")), "--no-web-open-browser", "--web-port", str(web_port),
            "--listen-host", "127.0.0.1", "-p", str(port), "--set", f"confdir={confdir}",
            "--set", f"ssl_verify_upstream_trusted_ca={lab.ca_path}", "-s", str(ROOT / "addons" / "pulltrace.py"),
            "--set", f"pulltrace_dir={tmp_path / 'out'}", "--set", "pulltrace_outputs=jsonl"]
    if MITMPROXY12:  # 11 has no such option
        argv += ["--set", f"web_password={password}"]
    for option in options:
        argv += ["--set", option]
    with Mitmdump.start(argv, log=tmp_path / "mitmweb.log", port=port) as proxy:
        certs = tmp_path / "certs"
        certs.mkdir()
        shutil.copy(confdir / "mitmproxy-ca-cert.pem", certs / "mitmproxy.crt")  # skopeo's --cert-dir
        web = Mitmweb(proxy, web_port, password, certs)
        deadline = time.monotonic() + 30
        while True:  # the web server starts after the proxy listens
            try:
                web.get("/flows")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield web
