"""A real mitmweb with the addon: after skopeo's pull through it, every registry flow its web UI
lists carries pulltrace's name for it, read back through mitmweb's own HTTP API, and mitmweb's
File > Save (`/flows/dump`) writes them with their names (mitmproxy 11 and 12)."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from capturehelpers import proxy_env
from mitmproxy import http
from mitmproxy.io import FlowReader
from mitmwebhelpers import mitmweb

pytestmark = pytest.mark.lab


def test_mitmweb_lists_skopeos_flows_named_by_pull(lab, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    with mitmweb(lab, tmp_path, ["pulltrace_idle=1"]) as web:
        subprocess.run(["skopeo", "inspect", "--cert-dir", str(web.certs),
                        f"docker://{lab.host('hub')}/library/tiny"],
                       env=proxy_env(web), check=True, capture_output=True, timeout=120)
        # skopeo does not fetch the layer, so the pull closes once quiet (pulltrace_idle=1):
        # wait for it, as a user looking at mitmweb would.
        flows = web.named_flows()
        saved = web.get("/flows/dump").content  # File > Save in mitmweb
    image = f"{lab.host('hub')}/library/tiny:latest"
    comments = [f["comment"] for f in flows]
    assert comments[:3] == [f"#1 ping · pull 1 {image}", f"#2 token · pull 1 {image}",
                            f"#3 manifest · pull 1 {image}"], comments
    # Then the config blob, by its 307 and the CDN; skopeo 1.9 fetches it after pinging again.
    assert f"#4 blob redirect · config · pull 1 {image}" in comments
    assert f"#5 CDN download · config · pull 1 {image}" in comments
    assert [c.split(" ")[0] for c in comments] == [f"#{n}" for n in range(1, len(comments) + 1)]
    assert all(c.endswith(f" · pull 1 {image}") for c in comments), comments
    assert not any(f["marked"] for f in flows)

    # The saved file, read with mitmproxy's own reader: the same names, and the metadata.
    back = {f.id: f for f in FlowReader(io.BytesIO(saved)).stream() if isinstance(f, http.HTTPFlow)}
    assert [back[f["id"]].comment for f in flows] == comments
    assert [back[f["id"]].metadata["pulltrace"]["step"] for f in flows] == list(range(1, len(flows) + 1))
    assert {back[f["id"]].metadata["pulltrace"]["image"] for f in flows} == {image}
