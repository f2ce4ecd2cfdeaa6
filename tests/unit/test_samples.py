"""The saved samples, read back: every samples/**/*.json loads as a trace, and each lab
capture (scripts/capture-samples) re-run through `build_trace` still reads the way a
user checks it on the wire. A classifier change shows up here on real captures.

When the reading changed on purpose: `scripts/capture-samples --rebuild` (no lab needed),
then `scripts/gallery`, and commit samples/lab/ and reports/.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pulltrace.model import Session, Step, Trace, load_trace
from pulltrace.pipeline import build_trace

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
LAB = SAMPLES / "lab"
ALL = sorted(SAMPLES.rglob("*.json"))
LAB_NAMES = sorted(p.stem for p in LAB.glob("*.json"))


def rebuilt(name: str) -> tuple[Trace, Trace]:
    """The saved trace, and the trace built anew from its exchanges in wire order."""
    saved = load_trace(LAB / f"{name}.json")
    exchanges = sorted((st.exchange for s in saved.sessions for st in s.steps), key=lambda e: e.started_at)
    return saved, build_trace(exchanges, saved.source)


def kinds(session: Session) -> list[str]:
    return [s.kind.value for s in session.steps]


def rules(session: Session) -> list[str]:
    return [f.rule for f in session.findings]


def pulls(trace: Trace) -> list[Session]:
    return [s for s in trace.sessions if s.action == "pull"]


def only_pull(trace: Trace) -> Session:
    (session,) = pulls(trace)
    return session


def by_kind(session: Session, kind: str) -> list[Step]:
    return [s for s in session.steps if s.kind.value == kind]


def assert_shape(session: Session, head: list[str], blobs: dict[str, int]) -> None:
    """`head` in this order, then the blob steps in any order (downloads run in parallel)."""
    got = kinds(session)
    assert got[: len(head)] == head, got
    assert Counter(got[len(head):]) == Counter(blobs), got


def assert_downloads_follow_redirects(session: Session) -> None:
    steps = {s.id: s for s in session.steps}
    redirects, downloads = by_kind(session, "blob-redirect"), by_kind(session, "cdn-download")
    assert len(redirects) == len(downloads) > 0
    for cdn in downloads:
        (origin,) = cdn.linked("follows")
        assert steps[origin].kind.value == "blob-redirect"
        assert steps[origin].reference == cdn.reference
        assert cdn.exchange.body_sha256 == cdn.reference  # the blob was hashed as it streamed


def roles(session: Session, kind: str) -> list[str]:
    return sorted(s.role or "" for s in by_kind(session, kind))


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.relative_to(SAMPLES).as_posix())
def test_sample_loads_as_a_trace(path):
    trace = load_trace(path)
    assert trace.sessions and all(s.steps for s in trace.sessions)


def test_every_lab_capture_is_here():
    assert LAB_NAMES == sorted([
        "ctr-pull-multi-oci", "docker-basic-login-pull", "docker-gcr-three", "docker-harbor-tiny",
        "docker-hub-multi", "docker-mirror-tiny", "docker-tiny-plus-after-tiny", "doctor-alice-denied",
        "podman-pull-multi", "pulltrace-pull-loop", "pulltrace-pull-multi", "skopeo-copy-three",
    ])


@pytest.mark.parametrize("name", LAB_NAMES)
def test_lab_sample_says_how_it_was_made_and_is_current(name):
    saved, again = rebuilt(name)
    assert saved.notes and saved.notes[0].startswith("Captured in the pulltrace lab by scripts/capture-samples: ")
    # The sample shows what this pulltrace would show: else run `scripts/capture-samples --rebuild`.
    assert [kinds(s) for s in again.sessions] == [kinds(s) for s in saved.sessions]
    assert [rules(s) for s in again.sessions] == [rules(s) for s in saved.sessions]


@pytest.mark.parametrize("name", LAB_NAMES)
def test_lab_sample_keeps_no_secret(name):
    text = (LAB / f"{name}.json").read_text(encoding="utf-8")
    for secret in ("admin-pass", "alice-pass", "Signature=", "refresh_token\": \"r"):
        assert secret not in text
    words = text.replace('"', " ").replace("\\", " ").split()
    assert not [w for w in words if w.startswith("eyJ") and len(w) > len("eyJhbGci…,")]
    assert not [w for w in words if w.startswith(("YWRt", "YWxp")) and "…" not in w]  # admin:…, alice:…


def test_docker_hub_multi():
    trace = rebuilt("docker-hub-multi")[1]
    s = only_pull(trace)
    assert s.client.startswith("docker/")
    assert_shape(s, ["ping", "token", "manifest-head", "manifest-index", "manifest"],
                 {"blob-redirect": 2, "cdn-download": 2})
    ping, token, head, index, manifest = s.steps[:5]
    assert token.linked("answers") == [ping.id] and token.linked("retried-by") == [head.id]
    assert manifest.linked("chosen-from") == [index.id] and s.summary.platform == "linux/amd64"
    assert all(r.exchange.status == 307 for r in by_kind(s, "blob-redirect"))
    assert {urlsplit(c.exchange.url).hostname for c in by_kind(s, "cdn-download")} == {"cdn.pulltrace.test"}
    assert roles(s, "cdn-download") == ["config", "layer 1/1"]
    assert_downloads_follow_redirects(s)
    assert s.summary.auth == "anonymous-bearer" and s.summary.scopes_granted == ["repository:library/multi:pull"]


def test_docker_mirror_tiny():
    s = only_pull(rebuilt("docker-mirror-tiny")[1])
    # `tiny` is a Docker Hub name, so dockerd asked its registry-mirrors: anonymous, no token.
    assert (s.summary.registry, s.summary.auth) == ("mirror.pulltrace.test", "none")
    assert s.summary.image == "mirror.pulltrace.test/library/tiny:latest"
    assert_shape(s, ["ping", "manifest-head", "manifest"], {"blob-redirect": 2, "cdn-download": 2})
    assert s.steps[0].exchange.status == 200
    assert {urlsplit(c.exchange.url).hostname for c in by_kind(s, "cdn-download")} == {"mirror-cdn.pulltrace.test"}
    assert_downloads_follow_redirects(s)


def test_docker_basic_login_pull():
    login, pull = rebuilt("docker-basic-login-pull")[1].sessions
    assert (login.action, kinds(login)) == ("login", ["ping", "login"])
    assert login.steps[1].exchange.request_header("authorization") == "Basic YWRt…"
    assert (pull.summary.image, pull.summary.auth) == ("basic.pulltrace.test/team/app:latest", "basic")
    # htpasswd registry: no token; blobs come straight back 200.
    assert_shape(pull, ["ping", "manifest-head", "manifest"], {"config-blob": 1, "layer-blob": 1})
    assert not by_kind(pull, "token")


def test_docker_gcr_three():
    s = only_pull(rebuilt("docker-gcr-three")[1])
    assert_shape(s, ["ping", "token", "manifest-head", "manifest"], {"blob-redirect": 4, "cdn-download": 4})
    # gcr.io: the token realm is on the registry's own host, blobs answer 302.
    assert urlsplit(s.steps[1].exchange.url)[1:3] == ("gcr.pulltrace.test", "/v2/token")
    assert {r.exchange.status for r in by_kind(s, "blob-redirect")} == {302}
    assert roles(s, "cdn-download") == ["config", "layer 1/3", "layer 2/3", "layer 3/3"]
    assert (s.summary.layers, s.summary.layers_fetched) == (3, 3)
    assert_downloads_follow_redirects(s)


def test_docker_harbor_tiny():
    s = only_pull(rebuilt("docker-harbor-tiny")[1])
    assert_shape(s, ["ping", "token", "manifest-head", "manifest"], {"config-blob": 1, "layer-blob": 1})
    # Harbor: realm /service/token with service=harbor-registry; blobs served 200, no CDN.
    token = s.steps[1].exchange
    assert urlsplit(token.url)[1:3] == ("harbor.pulltrace.test", "/service/token")
    assert "service=harbor-registry" in token.url
    assert not by_kind(s, "blob-redirect")


def test_docker_tiny_plus_after_tiny():
    first, second = pulls(rebuilt("docker-tiny-plus-after-tiny")[1])
    assert first.summary.image.endswith("/library/tiny:latest")
    assert second.summary.image.endswith("/library/tiny-plus:latest")
    (shared,) = [s.reference for s in by_kind(first, "cdn-download") if s.role == "layer 1/1"]
    # tiny-plus's first layer is tiny's: dockerd already has it and never asks for it.
    assert second.summary.skipped_blobs == [shared]
    assert shared not in {s.reference for s in second.steps}
    assert roles(second, "cdn-download") == ["config", "layer 2/2"]
    assert (second.summary.layers, second.summary.layers_fetched) == (2, 1)
    assert_downloads_follow_redirects(second)


def test_skopeo_copy_three():
    s = only_pull(rebuilt("skopeo-copy-three")[1])
    assert s.client.startswith("skopeo/")
    # skopeo asks for the manifest by tag with GET (no HEAD), then one blob at a time.
    assert kinds(s) == ["ping", "token", "manifest"] + ["blob-redirect", "cdn-download"] * 4
    manifest = s.steps[2].exchange
    assert (manifest.method, urlsplit(manifest.url).path) == ("GET", "/v2/library/three/manifests/latest")
    assert roles(s, "cdn-download") == ["config", "layer 1/3", "layer 2/3", "layer 3/3"]
    assert_downloads_follow_redirects(s)


def test_ctr_pull_multi_oci():
    s = only_pull(rebuilt("ctr-pull-multi-oci")[1])
    assert s.client.startswith("containerd/")
    # containerd starts with HEAD (no ping), and its fetcher asks for a second token before
    # it GETs the index by digest. The GET answered 401 (no body) is still the index: the
    # HEAD by tag said so, for that digest.
    assert_shape(s, ["manifest-head", "token", "manifest-head", "manifest-index", "token", "manifest-index",
                     "manifest"], {"blob-redirect": 2, "cdn-download": 2})
    assert s.steps[3].exchange.status == 401 and s.steps[3].facts.media_type_from == s.steps[2].id
    assert s.steps[0].exchange.method == "HEAD" and s.steps[0].exchange.status == 401
    first, second = by_kind(s, "token")
    assert first.linked("answers") == [s.steps[0].id] and first.linked("retried-by") == [s.steps[2].id]
    assert second.linked("answers") == [s.steps[3].id] and second.linked("retried-by") == [s.steps[5].id]
    index, manifest = s.steps[5], s.steps[6]
    assert index.exchange.content_type == "application/vnd.oci.image.index.v1+json"
    assert manifest.linked("chosen-from") == [index.id] and s.summary.platform == "linux/amd64"
    assert_downloads_follow_redirects(s)


def test_podman_pull_multi():
    s = only_pull(rebuilt("podman-pull-multi")[1])
    assert s.client.startswith("containers/")  # podman's User-Agent is its image library's
    # podman, like skopeo, GETs by tag (no HEAD): the index, then the platform's manifest by
    # digest, then one blob at a time, each a redirect and its CDN download.
    assert kinds(s) == ["ping", "token", "manifest-index", "manifest"] + ["blob-redirect", "cdn-download"] * 2
    index, manifest = s.steps[2], s.steps[3]
    assert (index.exchange.method, index.facts.by) == ("GET", "tag")
    assert manifest.linked("chosen-from") == [index.id] and s.summary.platform == "linux/amd64"
    assert [(link.target, link.note) for link in index.links if link.rel == "chooses"] == [(manifest.id, "linux/amd64")]
    assert roles(s, "cdn-download") == ["config", "layer 1/1"]
    assert_downloads_follow_redirects(s)
    assert s.summary.auth == "anonymous-bearer" and not s.findings


def test_pulltrace_pull_loop():
    saved, again = rebuilt("pulltrace-pull-loop")
    assert saved.source == "client"
    s = only_pull(again)
    # The config's 307 leads to loop-cdn, whose 307 leads back: the client follows 10 hops and stops.
    assert kinds(s)[:5] == ["ping", "token", "manifest-head", "manifest", "blob-redirect"]
    hops = by_kind(s, "blob-redirect")
    assert len(hops) == 11 and {h.exchange.status for h in hops} == {307}
    assert {urlsplit(h.exchange.url).hostname for h in hops} == {"loop.pulltrace.test", "loop-cdn.pulltrace.test"}
    assert {h.reference for h in hops} == {hops[0].reference} and not by_kind(s, "cdn-download")
    # It never reached the layer: not fetched, and not "already present" either.
    assert (s.summary.layers, s.summary.layers_fetched, s.summary.skipped_blobs) == (1, 0, [])
    assert [(f.rule, f.severity.value) for f in s.findings] == [("blob.redirect-loop", "error")]
    assert sorted(s.findings[0].steps) == sorted(h.id for h in hops)
    assert any("more than 10 redirects" in note for note in saved.notes)


def test_pulltrace_pull_multi():
    saved, again = rebuilt("pulltrace-pull-multi")
    assert saved.source == "client"
    s = only_pull(again)
    assert s.client.startswith("pulltrace/")
    # The built-in client does what dockerd does: ping, token, HEAD by tag, GET by digest.
    assert_shape(s, ["ping", "token", "manifest-head", "manifest-index", "manifest"],
                 {"blob-redirect": 2, "cdn-download": 2})
    assert s.steps[4].linked("chosen-from") == [s.steps[3].id]
    assert_downloads_follow_redirects(s)
    assert not s.findings


def test_doctor_alice_denied():
    saved, again = rebuilt("doctor-alice-denied")
    s = only_pull(again)
    # alice's token carries no action on private/secret: the registry answers 401
    # insufficient_scope to the HEAD and to each GET.
    assert kinds(s)[:2] == ["ping", "token"]
    errors = [step for step in s.steps if step.error]
    assert errors and {e.exchange.status for e in errors} == {401}
    assert {e.kind.value for e in errors} == {"manifest-head", "manifest"}
    assert "insufficient_scope" in errors[0].exchange.response_header("www-authenticate")
    assert [(f.rule, f.severity.value) for f in s.findings] == [("auth.insufficient-scope", "error")]
    assert "alice" in s.findings[0].title
    assert any("denied" in note for note in saved.notes)
