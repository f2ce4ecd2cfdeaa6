"""A real mitmweb with the addon: after skopeo's pull through it, every registry flow its web UI
lists carries pulltrace's name for it, read back through mitmweb's own HTTP API."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from capturehelpers import proxy_env

from devtools.mitmdump import Mitmdump, free_port, mitmdump_executable

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]


def test_mitmweb_lists_skopeos_flows_named_by_pull(lab, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    port, web_port = free_port(), free_port()
    confdir = tmp_path / "conf"
    argv = [str(mitmdump_executable().with_name("mitmweb")), "--no-web-open-browser", "--web-port", str(web_port),
            "--listen-host", "127.0.0.1", "-p", str(port), "--set", f"confdir={confdir}",
            "--set", f"ssl_verify_upstream_trusted_ca={lab.ca_path}", "-s", str(ROOT / "addons" / "pulltrace.py"),
            "--set", f"pulltrace_dir={tmp_path / 'out'}", "--set", "pulltrace_idle=1",
            "--set", "pulltrace_outputs=jsonl"]
    with Mitmdump.start(argv, log=tmp_path / "mitmweb.log", port=port) as web:
        certs = tmp_path / "certs"
        certs.mkdir()
        shutil.copy(confdir / "mitmproxy-ca-cert.pem", certs / "mitmproxy.crt")
        env = proxy_env(web)
        subprocess.run(["skopeo", "inspect", "--cert-dir", str(certs), f"docker://{lab.host('hub')}/library/tiny"],
                       env=env, check=True, capture_output=True, timeout=120)
        api = f"http://127.0.0.1:{web_port}/flows"
        # skopeo does not fetch the layer, so the pull closes once quiet (pulltrace_idle=1):
        # wait for it, as a user looking at mitmweb would.
        deadline = time.monotonic() + 60
        while True:
            flows = [f for f in httpx.get(api, timeout=10).json() if f["type"] == "http"]
            if flows and all(f["comment"] for f in flows) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    image = f"{lab.host('hub')}/library/tiny:latest"
    comments = [f["comment"] for f in sorted(flows, key=lambda f: f["request"]["timestamp_start"])]
    assert comments[:3] == [f"#1 ping · pull 1 {image}", f"#2 token · pull 1 {image}",
                            f"#3 manifest · pull 1 {image}"], comments
    # Then the config blob, by its 307 and the CDN; skopeo 1.9 fetches it after pinging again.
    assert f"#4 blob redirect · config · pull 1 {image}" in comments
    assert f"#5 CDN download · config · pull 1 {image}" in comments
    assert [c.split(" ")[0] for c in comments] == [f"#{n}" for n in range(1, len(comments) + 1)]
    assert all(c.endswith(f" · pull 1 {image}") for c in comments), comments
    assert not any(f["marked"] for f in flows)
