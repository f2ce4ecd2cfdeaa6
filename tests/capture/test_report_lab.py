"""`pulltrace report` over a real mitmdump flow file (`-w`) of a lab dockerd pull.

The offline reading must be the live addon's reading of the same pull, and a HAR made
from it must read back the same and carry no secret.
"""

from __future__ import annotations

import json

import pytest
from capturehelpers import by_kind, pulls

from pulltrace.commands.main import main
from pulltrace.model import Trace, load_trace

pytestmark = pytest.mark.lab

WITH_FLOWS = pytest.mark.parametrize("mitm", [{"flows": True}], indirect=True, ids=["addon+flows"])
BARE_FLOWS = pytest.mark.parametrize("mitm", [{"flows": True, "addon": False}], indirect=True, ids=["bare+flows"])


def reading(trace: Trace) -> list[tuple]:
    """What a trace says about each session: action, image, and per step its kind, role and links."""
    return [(s.action, s.summary.image,
             [(st.id, st.kind.value, st.role, sorted((link.rel, link.target, link.note) for link in st.links))
              for st in s.steps])
            for s in trace.sessions]


def recorded_cdn_bodies(path) -> list[int]:
    """Sizes of the 2xx bodies mitmdump wrote for storage paths (the CDN's blob downloads)."""
    from mitmproxy import http
    from mitmproxy.io import FlowReader

    with open(path, "rb") as f:
        return [len(flow.response.raw_content) for flow in FlowReader(f).stream()
                if isinstance(flow, http.HTTPFlow) and flow.response and flow.response.status_code == 200
                and "/docker/registry/v2/blobs/" in flow.request.path and flow.response.raw_content is not None]


def report(*args: str) -> None:
    assert main(["report", *map(str, args)]) == 0


@WITH_FLOWS
def test_report_of_the_flow_file_reads_like_the_live_addon(lab, mitm, daemon, tmp_path):
    daemon.docker("pull", f"{lab.host('hub')}/library/multi")
    live = mitm.trace()
    assert mitm.flows.stat().st_size > 0
    report(mitm.flows, "--format", "json", "-o", tmp_path / "x.json")
    offline = load_trace(tmp_path / "x.json")
    assert reading(offline) == reading(live)
    (s,) = pulls(offline)
    assert [st.kind.value for st in s.steps][:5] == ["ping", "token", "manifest-head", "manifest-index", "manifest"]
    assert s.summary.platform == "linux/amd64" and s.summary.layers_fetched == 1

    # The addon streamed the blobs, so the flow file holds none: report keeps what the
    # headers say, and body previews only for text/JSON (manifests, token, errors).
    downloads = by_kind(s, "cdn-download")
    assert len(downloads) == 2 and all(d.exchange.response_body_preview is None for d in downloads)
    info = lab.images["library/multi"].platforms["linux/amd64"]
    assert sorted(d.exchange.response_bytes for d in downloads) == sorted(
        [info.config_size, *(layer.size for layer in info.layers)])
    for step in s.steps:
        if step.exchange.response_body_preview is not None:
            assert "json" in (step.exchange.content_type or "")

    report(mitm.flows, "--format", "har", "-o", tmp_path / "x.har")
    report(tmp_path / "x.har", "--format", "json", "-o", tmp_path / "again.json")
    again = load_trace(tmp_path / "again.json")
    assert [[st.kind.value for st in s.steps] for s in again.sessions] == \
        [[st.kind.value for st in s.steps] for s in live.sessions]
    assert reading(again) == reading(live)

    har_text = (tmp_path / "x.har").read_text()
    har = json.loads(har_text)
    for entry in har["log"]["entries"]:
        for header in entry["request"]["headers"] + entry["response"]["headers"]:
            if header["name"].lower() in ("authorization", "proxy-authorization"):
                assert header["value"].endswith("…") and len(header["value"]) <= len("Bearer eyJhbGci…")
    # The anonymous token was fetched, and its body is in the HAR, masked to its shape.
    token_entry = next(e for e in har["log"]["entries"] if e["_pulltrace"]["kind"] == "token")
    assert json.loads(token_entry["response"]["content"]["text"])["token"] == "eyJhbGci…"
    words = har_text.replace('"', " ").replace("\\", " ").split()
    assert not [w for w in words if w.startswith("eyJ") and len(w) > len("eyJhbGci…,")]

    # The HAR reads back as text too, session heading and all.
    assert main(["report", str(tmp_path / "x.har")]) == 0


@BARE_FLOWS
def test_report_keeps_no_blob_body_from_a_buffered_flow_file(lab, mitm, daemon, tmp_path):
    # mitmdump alone, stream_large_bodies unset: every blob is buffered and lands in the file.
    daemon.docker("pull", f"{lab.host('hub')}/library/multi")
    mitm.stop()
    info = lab.images["library/multi"].platforms["linux/amd64"]
    layer = info.layers[0]
    assert sorted(recorded_cdn_bodies(mitm.flows)) == sorted([info.config_size, layer.size])
    report(mitm.flows, "--format", "json", "-o", tmp_path / "x.json")
    (s,) = pulls(load_trace(tmp_path / "x.json"))
    downloads = by_kind(s, "cdn-download")
    assert sorted(d.role for d in downloads) == ["config", "layer 1/1"]
    for d in downloads:
        # Hashed and counted from the recorded body, but not kept.
        assert d.exchange.response_body_preview is None
        assert d.exchange.body_sha256 == d.facts.digest
    assert sorted(d.exchange.response_bytes for d in downloads) == sorted([info.config_size, layer.size])
    kept = [st for st in s.steps if st.exchange.response_body_preview is not None]
    assert kept and all("json" in (st.exchange.content_type or "") for st in kept)
