"""The kind column names config and layer N/M in every view (they all read StepRow.kind_label)."""

from __future__ import annotations

import json
from pathlib import Path

from pulltrace.model import exchange_from_dict
from pulltrace.pipeline import build_trace
from pulltrace.render.markdown import render_markdown
from pulltrace.render.rows import step_rows

DATA = Path(__file__).resolve().parents[2] / "data" / "engine"


def _skopeo_trace():
    exchanges = [exchange_from_dict(d) for d in json.loads((DATA / "skopeo-hub-three.json").read_text())]
    return build_trace(exchanges, "mitmproxy")


def test_blob_redirects_and_downloads_name_their_blob():
    (session,) = _skopeo_trace().sessions
    assert [r.kind_label for r in step_rows(session)] == [
        "ping", "token", "manifest",
        "redirect: layer 1/3", "CDN: layer 1/3",
        "redirect: layer 2/3", "CDN: layer 2/3",
        "redirect: layer 3/3", "CDN: layer 3/3",
        "redirect: config", "CDN: config",
    ]


def test_the_chinese_kind_column_names_them_too():
    (session,) = _skopeo_trace().sessions
    labels = [r.kind_label for r in step_rows(session, lang="zh")]
    assert labels[3:5] == ["重定向: 层 1/3", "CDN: 层 1/3"]
    assert labels[-1] == "CDN: 配置"


def test_markdown_shows_the_layer_in_its_step_table():
    text = render_markdown(_skopeo_trace())
    assert "CDN: layer 2/3" in text and "redirect: config" in text


def test_blobs_served_directly_are_config_blob_and_layer_blob_n_of_m():
    exchanges = [exchange_from_dict(d) for d in json.loads((DATA / "docker-basic-login-pull.json").read_text())]
    pull = next(s for s in build_trace(exchanges, "mitmproxy").sessions if s.action == "pull")
    assert sorted(r.kind_label for r in step_rows(pull) if "blob" in r.kind_label) == [
        "config blob", "layer blob 1/1"]
