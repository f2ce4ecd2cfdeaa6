"""A real mitmweb with the addon: after skopeo copies an image through it, mitmweb's own HTTP API
shows the registry's index, manifest, token answer and challenge through the "pulltrace" view,
and the view really is ours (the JSON and raw views show something else)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from capturehelpers import proxy_env
from mitmproxy import version

from devtools.mitmdump import Mitmdump, free_port, mitmdump_executable

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]
MITMPROXY12 = int(version.VERSION.split(".")[0]) >= 12


def view_text(api: str, headers: dict[str, str], flow: dict[str, Any], view: str) -> tuple[str, str]:
    """(view name or description, text) of a flow's response as mitmweb serves it."""
    answer = httpx.get(f"{api}/flows/{flow['id']}/response/content/{view}.json", headers=headers, timeout=30)
    answer.raise_for_status()
    data = answer.json()
    if MITMPROXY12:  # 12 answers with one text and the view it chose
        return str(data["view_name"]), data["text"]
    return data["description"], "\n".join("".join(text for _, text in line) for line in data["lines"])


def test_mitmweb_shows_skopeos_registry_messages_through_the_pulltrace_view(lab, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    port, web_port = free_port(), free_port()
    confdir = tmp_path / "conf"
    password = secrets.token_hex(16)
    argv = [str(mitmdump_executable().with_name("mitmweb")), "--no-web-open-browser", "--web-port", str(web_port),
            "--listen-host", "127.0.0.1", "-p", str(port), "--set", f"confdir={confdir}",
            "--set", f"ssl_verify_upstream_trusted_ca={lab.ca_path}", "-s", str(ROOT / "addons" / "pulltrace.py"),
            "--set", f"pulltrace_dir={tmp_path / 'out'}", "--set", "pulltrace_outputs=jsonl"]
    if MITMPROXY12:  # mitmweb 12 wants a token on its API; 11 has no such option
        argv += ["--set", f"web_password={password}"]
    headers = {"Authorization": f"Bearer {password}"}
    api = f"http://127.0.0.1:{web_port}"
    with Mitmdump.start(argv, log=tmp_path / "mitmweb.log", port=port) as web:
        certs = tmp_path / "certs"
        certs.mkdir()
        shutil.copy(confdir / "mitmproxy-ca-cert.pem", certs / "mitmproxy.crt")
        subprocess.run(["skopeo", "copy", "--src-cert-dir", str(certs), "--override-os", "linux",
                        "--override-arch", "amd64", f"docker://{lab.host('hub')}/library/multi:latest",
                        f"dir:{tmp_path / 'image'}"], env=proxy_env(web), check=True, capture_output=True,
                       timeout=180)
        flows = [f for f in httpx.get(f"{api}/flows", headers=headers, timeout=10).json() if f["type"] == "http"]

        def first(method: str, path_part: str, status: int) -> dict[str, Any]:
            return next(f for f in flows if f["request"]["method"] == method and path_part in f["request"]["path"]
                        and f["response"] and f["response"]["status_code"] == status)

        index = first("GET", "/manifests/latest", 200)
        name, text = view_text(api, headers, index, "pulltrace")
        lines = text.splitlines()
        assert lines[:3] == ["Index", "media type  application/vnd.docker.distribution.manifest.list.v2+json",
                             "manifests   3"], lines
        assert lines[4].split() == ["#", "platform", "size", "media", "type", "digest"]
        assert [line.split()[1] for line in lines[5:]] == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
        # Ours, not a built-in view mitmweb fell back to (an unknown view name gives `auto`).
        assert name == ("pulltrace" if MITMPROXY12 else "pulltrace: index")
        assert view_text(api, headers, index, "json")[1] != text
        assert view_text(api, headers, index, "raw")[1] != text
        assert view_text(api, headers, index, "auto") == (name, text)  # chosen by default for a manifest

        # The image manifest skopeo picked from it: its config and layer by digest.
        amd64 = lines[5].split()[-1]
        manifest = first("GET", f"/manifests/{amd64}", 200)
        lines = view_text(api, headers, manifest, "pulltrace")[1].splitlines()
        assert lines[0] == "Manifest" and lines[4].split() == ["layer", "size", "media", "type", "digest"]
        assert lines[5].startswith("config  ") and lines[5].split()[-1].startswith("sha256:")
        layer_digests = [line.split()[-1] for line in lines[6:]]
        assert layer_digests and all(
            any(f["request"]["path"].endswith(f"/blobs/{d}") for f in flows) for d in layer_digests), layer_digests

        # The challenge of the first 401 and the token answer, the token itself never shown.
        challenged = first("GET", "/v2/", 401)
        lines = view_text(api, headers, challenged, "pulltrace")[1].splitlines()
        assert lines[:4] == ["CHALLENGE", "Bearer", "  realm   https://auth.pulltrace.test/token",
                             f"  service {lab.host('hub')}"], lines
        assert lines[-2:] == ["code          message", "UNAUTHORIZED  authentication required"]
        token_flow = next(f for f in flows if f["request"]["host"] == "auth.pulltrace.test"
                          and f["response"]["status_code"] == 200)
        body = httpx.get(f"{api}/flows/{token_flow['id']}/response/content.data", headers=headers,
                         timeout=10).json()["token"]
        text = view_text(api, headers, token_flow, "pulltrace")[1]
        lines = text.splitlines()
        assert body not in text and body.split(".")[2] not in text
        assert lines[:2] == ["Token response", f"token       {body[:8]}…"]
        assert "expires in  300 s (5 min)" in lines
        assert lines[-2:] == ["  type        name           actions", "  repository  library/multi  pull"]
