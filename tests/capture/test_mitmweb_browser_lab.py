"""mitmweb's own UI in headless Chromium after real pulls through it with the addon: the flow
list shows each flow's pulltrace comment, the failed step is marked, and a manifest's Response
tab shows the "pulltrace" view's layer table. The screenshot is saved beside the test's files
(tmp) for a human to judge; docs/mitmweb.png is one such screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capturehelpers import proxy_env
from mitmwebhelpers import MITMPROXY12, mitmweb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "render"))
from cdp import CHROMIUM, Browser, Page  # noqa: E402 - the DevTools helper of the report's browser tests

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                       reason="needs Debian's chromium (apt-get install -y --no-install-recommends chromium)"),
]

ROWS = "[...document.querySelectorAll('.flow-table tbody tr')].filter(tr => tr.querySelector('td.col-path'))"


def wait_js(page: Page, expression: str, timeout: float = 30.0) -> object:
    """The expression's value once truthy: mitmweb renders from its websocket, not at load."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.js(expression)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_mitmweb_shows_names_marks_and_the_layer_table(lab, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    hub = lab.host("hub")
    image = f"{hub}/library/multi:latest"
    with mitmweb(lab, tmp_path, ["pulltrace_idle=1"]) as web:
        subprocess.run(["skopeo", "copy", "--src-cert-dir", str(web.certs), "--override-os", "linux",
                        "--override-arch", "amd64", f"docker://{image}", f"dir:{tmp_path / 'image'}"],
                       env=proxy_env(web), check=True, capture_output=True, timeout=180)
        failed = subprocess.run(["skopeo", "inspect", "--cert-dir", str(web.certs),
                                 f"docker://{hub}/library/multi:no-such-tag"],
                                env=proxy_env(web), capture_output=True, timeout=120)
        assert failed.returncode != 0
        flows = web.named_flows()
        browser = Browser()
        try:
            page = browser.new_page()
            page.call("Emulation.setDeviceMetricsOverride", width=1600, height=900, deviceScaleFactor=1,
                      mobile=False)
            page.open(web.ui_url)
            assert wait_js(page, f"{ROWS}.length === {len(flows)} && "
                                 f"{ROWS}.every(tr => tr.querySelector('td.col-comment')?.textContent)")
            rows = page.js(f"{ROWS}.map(tr => [tr.querySelector('td.col-comment').textContent, "
                           "tr.querySelector('td.col-path .marker').textContent, "
                           "tr.querySelector('td.col-status').textContent])")
            # The flow list, in mitmweb's order, shows what the API says: every comment, the one mark.
            assert [r[0] for r in rows] == [f["comment"] for f in flows]
            manifest = next(r for r in rows if r[0] == f"#4 manifest · pull 1 {image}")
            assert manifest[1:] == ["", "200"]
            marked = [r for r in rows if r[1]]
            assert marked == [[f"#3 manifest · pull 2 {hub}/library/multi:no-such-tag", "❗", "404"]]

            # The manifest's Response tab: the "pulltrace" view, chosen by mitmweb itself (auto).
            page.js(f"{ROWS}.find(tr => tr.querySelector('td.col-comment').textContent === {manifest[0]!r})"
                    ".click()")
            assert wait_js(page, "!!document.querySelector('.flow-detail nav')")
            page.js("[...document.querySelectorAll('.flow-detail nav a')].find(a => a.textContent === 'Response')"
                    ".click()")
            assert wait_js(page, "(document.querySelector('.flow-detail .contentview pre') || {}).innerText")
            title = page.js("document.querySelector('.flow-detail .contentview h5').textContent")
            assert title == ("pulltrace" if MITMPROXY12 else "pulltrace: manifest")
            text = page.js("document.querySelector('.flow-detail .contentview pre').innerText")
            lines = [line for line in text.splitlines() if line.strip()]  # 12 keeps blank lines, 11 not
            platform = lab.images["library/multi"].platforms["linux/amd64"]
            assert lines[0] == "Manifest"
            assert lines[3].split() == ["layer", "size", "media", "type", "digest"]
            assert [line.split()[0] for line in lines[4:]] == ["config", *map(str, range(1, len(platform.layers) + 1))]
            assert [line.split()[-1] for line in lines[4:]] == [platform.config_digest,
                                                                *(layer.digest for layer in platform.layers)]
            shot = tmp_path / "mitmweb.png"
            page.screenshot(shot)
            assert shot.stat().st_size > 20_000
            assert page.problems() == []
        finally:
            browser.close()
