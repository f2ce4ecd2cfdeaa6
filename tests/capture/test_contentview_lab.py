"""A real mitmweb with the addon: after skopeo copies an image through it, mitmweb's own HTTP API
shows the registry's index, manifest, token answer and challenge through the "pulltrace" view,
and the view really is ours (the JSON and raw views show something else)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from capturehelpers import proxy_env
from mitmwebhelpers import MITMPROXY12, Mitmweb, mitmweb

pytestmark = pytest.mark.lab


def view_text(web: Mitmweb, flow: dict[str, Any], view: str) -> tuple[str, str]:
    """(view name or description, text) of a flow's response as mitmweb serves it."""
    data = web.get(f"/flows/{flow['id']}/response/content/{view}.json").json()
    if MITMPROXY12:  # 12 answers with one text and the view it chose
        return str(data["view_name"]), data["text"]
    return data["description"], "\n".join("".join(text for _, text in line) for line in data["lines"])


def test_mitmweb_shows_skopeos_registry_messages_through_the_pulltrace_view(lab, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    with mitmweb(lab, tmp_path) as web:
        subprocess.run(["skopeo", "copy", "--src-cert-dir", str(web.certs), "--override-os", "linux",
                        "--override-arch", "amd64", f"docker://{lab.host('hub')}/library/multi:latest",
                        f"dir:{tmp_path / 'image'}"], env=proxy_env(web), check=True, capture_output=True,
                       timeout=180)
        flows = web.flows()

        def first(method: str, path_part: str, status: int) -> dict[str, Any]:
            return next(f for f in flows if f["request"]["method"] == method and path_part in f["request"]["path"]
                        and f["response"] and f["response"]["status_code"] == status)

        index = first("GET", "/manifests/latest", 200)
        name, text = view_text(web, index, "pulltrace")
        lines = text.splitlines()
        assert lines[:3] == ["Index", "media type  application/vnd.docker.distribution.manifest.list.v2+json",
                             "manifests   3"], lines
        assert lines[4].split() == ["#", "platform", "size", "media", "type", "digest"]
        assert [line.split()[1] for line in lines[5:]] == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
        # Ours, not a built-in view mitmweb fell back to (an unknown view name gives `auto`).
        assert name == ("pulltrace" if MITMPROXY12 else "pulltrace: index")
        assert view_text(web, index, "json")[1] != text
        assert view_text(web, index, "raw")[1] != text
        assert view_text(web, index, "auto") == (name, text)  # chosen by default for a manifest

        # The image manifest skopeo picked from it: its config and layer by digest.
        amd64 = lines[5].split()[-1]
        manifest = first("GET", f"/manifests/{amd64}", 200)
        lines = view_text(web, manifest, "pulltrace")[1].splitlines()
        assert lines[0] == "Manifest" and lines[4].split() == ["layer", "size", "media", "type", "digest"]
        assert lines[5].startswith("config  ") and lines[5].split()[-1].startswith("sha256:")
        layer_digests = [line.split()[-1] for line in lines[6:]]
        assert layer_digests and all(
            any(f["request"]["path"].endswith(f"/blobs/{d}") for f in flows) for d in layer_digests), layer_digests

        # The challenge of the first 401 and the token answer, the token itself never shown.
        challenged = first("GET", "/v2/", 401)
        lines = view_text(web, challenged, "pulltrace")[1].splitlines()
        assert lines[:4] == ["CHALLENGE", "Bearer", "  realm   https://auth.pulltrace.test/token",
                             f"  service {lab.host('hub')}"], lines
        assert lines[-2:] == ["code          message", "UNAUTHORIZED  authentication required"]
        token_flow = next(f for f in flows if f["request"]["host"] == "auth.pulltrace.test"
                          and f["response"]["status_code"] == 200)
        body = web.get(f"/flows/{token_flow['id']}/response/content.data").json()["token"]
        text = view_text(web, token_flow, "pulltrace")[1]
        lines = text.splitlines()
        assert body not in text and body.split(".")[2] not in text
        assert lines[:2] == ["Token response", f"token       {body[:8]}…"]
        assert "expires in  300 s (5 min)" in lines
        assert lines[-2:] == ["  type        name           actions", "  repository  library/multi  pull"]
