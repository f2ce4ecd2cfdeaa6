"""Grouping steps into pulls and logins, and what each session's summary says."""

from pathlib import Path

import pytest

from pulltrace.capture.importers import load_exchanges
from pulltrace.classify import classify
from pulltrace.model import Exchange
from pulltrace.sessions import (
    AUTH_ANONYMOUS,
    AUTH_BASIC,
    AUTH_CREDENTIALS,
    AUTH_NONE,
    group_sessions,
    is_complete,
)

SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds"


def sessions_of(*names: str, shift: float = 0.0):
    exchanges = []
    for n, name in enumerate(names):
        for ex in load_exchanges(SEEDS / f"{name}.json"):
            ex.started_at += n * shift
            exchanges.append(ex)
    return group_sessions(classify(exchanges))


def test_docker_hub_summary():
    (s,) = sessions_of("001-dockerhub-alpine")
    summary = s.summary
    assert (s.action, summary.image, summary.registry) == ("pull", "registry-1.docker.io/library/alpine:latest",
                                                          "registry-1.docker.io")
    assert summary.platform == "linux/amd64"
    assert summary.manifest_digest == "sha256:a15790640a6690aa1730c38cf0a440e2aa44aaca9b0e8931a9f2b0d7cc90fd65"
    assert summary.auth == AUTH_ANONYMOUS
    assert summary.scopes_requested == summary.scopes_granted == ["repository:library/alpine:pull"]
    assert summary.token_claims["iss"] == "auth.docker.io"
    assert (summary.layers, summary.layers_fetched, summary.bytes) == (1, 0, 1509)
    assert summary.duration_ms == pytest.approx(5040.0)  # 06:17:41 to the end of the 40 ms CDN GET at :46
    assert [step.index for step in s.steps] == [1, 2, 3, 4, 5, 6]


def test_quay_layer_already_present_is_reported_skipped():
    (s,) = sessions_of("001-quay-alpine-curl")
    assert s.summary.skipped_blobs == ["sha256:df20fa9351a15782c64e6dddb2d4a6f50bf6d3688060a34c4014b0d9a752eb4c"]
    assert (s.summary.layers, s.summary.layers_fetched) == (2, 1)
    assert s.summary.bytes == 688971 + 1926
    assert s.summary.platform is None  # a single manifest says nothing about platforms


def test_a_pull_that_failed_on_its_config_skipped_no_layer():
    # pulltrace's client against the lab's loop registry: the config's redirects loop, the
    # client gives up, and the layer is never asked for. It was not "already present".
    (s,) = group_sessions(classify(load_exchanges(SEEDS.parent / "lab" / "pulltrace-pull-loop.json")))
    assert (s.summary.layers, s.summary.layers_fetched) == (1, 0)
    assert s.summary.skipped_blobs == []
    assert not is_complete(s)


def test_gcr_is_complete_and_counts_cdn_bytes():
    (s,) = sessions_of("001-gcr-kube-controller-manager")
    assert is_complete(s)
    assert s.summary.skipped_blobs == []
    assert s.summary.bytes == 21082831 + 27897052 + 1786
    assert s.summary.scopes_granted == []  # opaque token: nothing to decode


def test_mirror_without_auth_and_harbor_with_credentials():
    (mirror,) = sessions_of("001-aliyun-mirror-alpine")
    assert mirror.summary.auth == AUTH_NONE
    (harbor,) = sessions_of("004-harbor-pull")
    assert harbor.summary.auth == AUTH_CREDENTIALS
    assert harbor.summary.image == "192.168.195.134/test/busybox:latest"
    assert is_complete(harbor)


def test_harbor_login_is_one_login_session():
    (s,) = sessions_of("004-harbor-login")
    assert s.action == "login"
    assert len(s.steps) == 7
    assert s.summary.image == ""
    assert s.summary.auth == AUTH_CREDENTIALS
    assert s.summary.token_claims["sub"] == "admin"


def test_browser_request_stays_out_of_the_pull():
    other, pull = sessions_of("003-harbor-pull")
    assert other.action == "other" and [x.id for x in other.steps] == ["003-1"]
    assert pull.action == "pull" and len(pull.steps) == 8
    assert pull.summary.layers_fetched == 4


def test_login_then_pull_make_two_sessions():
    sessions = sessions_of("004-harbor-login", "004-harbor-pull")
    assert [s.action for s in sessions] == ["login", "pull"]
    assert [len(s.steps) for s in sessions] == [7, 6]


def test_interleaved_clients_are_separated():
    # Two seed pulls replayed at the same moment from two clients: their steps interleave.
    hub = load_exchanges(SEEDS / "001-dockerhub-alpine.json")
    quay = load_exchanges(SEEDS / "001-quay-alpine-curl.json")
    base_hub, base_quay = hub[0].started_at, quay[0].started_at
    for ex in hub:
        ex.started_at = 1000.0 + (ex.started_at - base_hub)
    for ex in quay:
        ex.started_at = 1000.2 + (ex.started_at - base_quay)
        ex.client = "192.0.2.99:4000"
    sessions = group_sessions(classify(hub + quay))
    assert sorted(s.summary.image for s in sessions) == [
        "quay.io/watchdogpolska/alpine-curl:latest", "registry-1.docker.io/library/alpine:latest"]
    assert sorted(len(s.steps) for s in sessions) == [6, 7]


def _ex(n, url, status=200, client="10.0.0.1:1", at=None, req=(), resp=(), body=None, nbytes=None):
    return Exchange(id=f"x{n}", method="GET", url=url, started_at=float(at if at is not None else n), status=status,
                    client=client, request_headers=list(req), response_headers=list(resp),
                    response_body_preview=body, response_bytes=nbytes)


def test_same_client_parallel_pulls_of_two_repositories():
    steps = classify([
        _ex(1, "https://r.test/v2/a/manifests/1"),
        _ex(2, "https://r.test/v2/b/manifests/1"),
        _ex(3, "https://r.test/v2/a/blobs/sha256:" + "1" * 64),
        _ex(4, "https://r.test/v2/b/blobs/sha256:" + "2" * 64),
    ])
    sessions = group_sessions(steps)
    assert [[x.id for x in s.steps] for s in sessions] == [["x1", "x3"], ["x2", "x4"]]


def test_pulling_the_same_tag_again_starts_a_new_session():
    steps = classify([
        _ex(1, "https://r.test/v2/a/manifests/1"),
        _ex(2, "https://r.test/v2/a/blobs/sha256:" + "1" * 64),
        _ex(3, "https://r.test/v2/a/manifests/1"),
    ])
    assert [len(s.steps) for s in group_sessions(steps)] == [2, 1]


def test_basic_auth_and_mirror_fallback():
    steps = classify([
        _ex(1, "https://mirror.test/v2/library/t/manifests/latest", status=404,
            body='{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'),
        _ex(2, "https://upstream.test/v2/library/t/manifests/latest",
            req=[("Authorization", "Basic YWRt…")]),
    ])
    (s,) = group_sessions(steps)
    assert (s.summary.mirror, s.summary.fallback, s.summary.registry) == (
        "mirror.test", "upstream.test", "upstream.test")
    assert s.summary.auth == AUTH_BASIC
    assert s.summary.errors == ["404 GET /v2/library/t/manifests/latest: MANIFEST_UNKNOWN"]


def test_ns_parameter_names_the_upstream_registry():
    steps = classify([_ex(1, "https://m.test/v2/library/t/manifests/latest?ns=docker.io")])
    (s,) = group_sessions(steps)
    assert (s.summary.mirror, s.summary.registry) == ("m.test", "docker.io")
    assert s.summary.image == "docker.io/library/t:latest"
