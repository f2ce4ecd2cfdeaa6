"""Manifest rules on recorded pulls."""

from __future__ import annotations

import json

from diagnose_recorded import (
    ACCEPT_DOCKER,
    AUTH,
    CHALLENGE,
    HUB,
    INDEX_DIGEST,
    MANIFEST,
    MANIFEST_TYPE,
    Recorder,
    accept,
    bearer,
    healthy_hub_pull,
    make_token,
    masked,
    sha,
    step_by_kind,
)

from pulltrace.diagnose import diagnose
from pulltrace.model import Severity, StepKind

PLAIN = "plain.pulltrace.test:5000"


def cut_at(r: Recorder, kind: StepKind) -> tuple[Recorder, object]:
    step = step_by_kind(r.session(), kind)
    r.steps = r.steps[: step.index]
    return r, step


def test_short_name_on_a_hub_style_registry_misses_library():
    token = masked(make_token(repo="tiny", actions=()))
    r = Recorder()
    r.add(StepKind.PING, "GET", f"https://{HUB}/v2/", 401, response_headers=[("WWW-Authenticate", CHALLENGE)])
    r.add(StepKind.TOKEN, "GET", f"https://{AUTH}/token?scope=repository%3Atiny%3Apull&service={HUB}", 200,
          body=json.dumps({"token": token}))
    r.add(StepKind.ERROR, "GET", f"https://{HUB}/v2/tiny/manifests/latest", 401, request_headers=bearer(token),
          response_headers=[
              ("WWW-Authenticate", CHALLENGE + ',scope="repository:tiny:pull",error="insufficient_scope"'),
          ],
          body='{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
    findings = diagnose(r.session())
    assert findings[0].rule == "manifest.missing-library"
    assert f"{HUB}/library/tiny:latest" in findings[0].fix
    assert "auth.anonymous-private" not in [f.rule for f in findings]


def test_short_name_unknown_on_a_mirror_of_docker_hub_misses_library():
    # containerd names the upstream of a mirror with ?ns=docker.io.
    r = Recorder()
    r.add(StepKind.PING, "GET", f"http://{PLAIN}/v2/?ns=docker.io", 200)
    r.add(StepKind.ERROR, "GET", f"http://{PLAIN}/v2/tiny/manifests/latest?ns=docker.io", 404,
          body='{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry",'
               '"detail":{"name":"tiny"}}]}')
    findings = diagnose(r.session(registry=PLAIN))
    assert findings[0].rule == "manifest.missing-library"


def test_short_name_unknown_on_a_registry_that_is_not_docker_hub_gets_no_library_hint():
    # ECR: one-component repository names are ordinary there; Docker Hub's library/ is not.
    ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    r = Recorder()
    r.add(StepKind.ERROR, "GET", f"https://{ecr}/v2/tiny/manifests/latest", 404,
          request_headers=[("Authorization", "Basic QVdT…")],
          body='{"errors":[{"code":"NAME_UNKNOWN","message":"The repository with name \'tiny\' does not exist in '
               'the registry with id \'123456789012\'"}]}')
    findings = diagnose(r.session(registry=ecr))
    assert [f.rule for f in findings] == ["manifest.name-unknown"]
    assert "library/" not in findings[0].fix and "library/" not in findings[0].cause


def test_unknown_tag_lists_the_tags_seen():
    r, index = cut_at(healthy_hub_pull(), StepKind.MANIFEST_INDEX)
    auth = [h for h in index.exchange.request_headers if h[0] == "Authorization"]
    r.add(StepKind.CATALOG, "GET", f"https://{HUB}/v2/library/tiny/tags/list", 200, request_headers=auth,
          body='{"name":"library/tiny","tags":["latest","1.0"]}')
    r.add(StepKind.ERROR, "GET", f"https://{HUB}/v2/library/tiny/manifests/nope", 404, request_headers=auth,
          body='{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"nope"}}]}')
    f = diagnose(r.session())[0]
    assert f.rule == "manifest.unknown"
    assert "'nope'" in f.cause and "latest, 1.0" in f.cause
    assert f"skopeo list-tags docker://{HUB}/library/tiny" in f.fix


def test_unknown_repository():
    r = Recorder()
    r.add(StepKind.PING, "GET", f"http://{PLAIN}/v2/", 200)
    r.add(StepKind.ERROR, "GET", f"http://{PLAIN}/v2/team/nope/manifests/latest", 404,
          body='{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}')
    f = diagnose(r.session(registry=PLAIN))[0]
    assert f.rule == "manifest.name-unknown"
    assert "team/nope" in f.title and PLAIN in f.title


def test_platform_absent_from_the_index_lists_those_present():
    r = healthy_hub_pull()
    index = step_by_kind(r.session(), StepKind.MANIFEST_INDEX)
    r.steps = r.steps[: index.index + 1]
    f = diagnose(r.session(), wanted_platform="linux/s390x")[0]
    assert f.rule == "manifest.platform-missing" and f.severity == Severity.ERROR
    assert "linux/amd64, linux/arm64/v8" in f.cause and "linux/s390x" in f.title


def test_platform_present_but_pull_stopped_is_not_called_missing():
    r = healthy_hub_pull()
    index = step_by_kind(r.session(), StepKind.MANIFEST_INDEX)
    r.steps = r.steps[: index.index + 1]
    assert "manifest.platform-missing" not in [f.rule for f in diagnose(r.session(), wanted_platform="linux/arm64")]
    # Without knowing the wanted platform the rule can only say so, as info.
    findings = diagnose(r.session())
    assert [(f.rule, f.severity) for f in findings] == [("manifest.platform-missing", Severity.INFO)]


def test_accept_without_index_types_got_a_schema1_rewrite():
    r, index = cut_at(healthy_hub_pull(), StepKind.MANIFEST_INDEX)
    auth = [h for h in index.exchange.request_headers if h[0] == "Authorization"]
    r.add(StepKind.MANIFEST, "GET", index.exchange.url, 200, request_headers=accept([MANIFEST_TYPE]) + auth,
          response_headers=[("Content-Type", "application/vnd.docker.distribution.manifest.v1+prettyjws")],
          body='{"schemaVersion":1,"name":"library/tiny","tag":"latest","fsLayers":[]}')
    f = diagnose(r.session())[0]
    assert f.rule == "manifest.accept-mismatch" and f.severity == Severity.WARNING
    assert "schema 1" in f.title
    assert "application/vnd.oci.image.index.v1+json" in f.fix


def test_accept_without_oci_index_refused():
    r, index = cut_at(healthy_hub_pull(), StepKind.MANIFEST_INDEX)
    auth = [h for h in index.exchange.request_headers if h[0] == "Authorization"]
    r.add(StepKind.ERROR, "GET", f"https://{HUB}/v2/library/multi-oci/manifests/latest", 404,
          request_headers=accept([MANIFEST_TYPE, "application/vnd.docker.distribution.manifest.list.v2+json"]) + auth,
          body='{"errors":[{"code":"MANIFEST_UNKNOWN",'
               '"message":"OCI index found, but accept header does not support OCI indexes"}]}')
    findings = diagnose(r.session())
    assert findings[0].rule == "manifest.accept-mismatch" and findings[0].severity == Severity.ERROR
    assert "manifest.unknown" not in [f.rule for f in findings]


def test_accept_without_index_types_got_a_single_manifest():
    r, index = cut_at(healthy_hub_pull(), StepKind.MANIFEST_INDEX)
    auth = [h for h in index.exchange.request_headers if h[0] == "Authorization"]
    r.add(StepKind.MANIFEST, "GET", index.exchange.url, 200, request_headers=accept([MANIFEST_TYPE]) + auth,
          response_headers=[("Content-Type", MANIFEST_TYPE)], body=MANIFEST, body_sha256=sha(MANIFEST))
    findings = diagnose(r.session())
    assert [(f.rule, f.severity) for f in findings] == [("manifest.accept-mismatch", Severity.INFO)]


def test_docker_content_digest_disagrees_with_the_bytes():
    r = healthy_hub_pull()
    index = step_by_kind(r.session(), StepKind.MANIFEST_INDEX)
    index.exchange.body_sha256 = sha("something a proxy re-serialised")
    f = diagnose(r.session())[0]
    assert f.rule == "manifest.digest-mismatch"
    assert INDEX_DIGEST in f.cause


def test_manifest_fetched_by_digest_returns_other_bytes():
    r = healthy_hub_pull()
    manifest = step_by_kind(r.session(), StepKind.MANIFEST)
    manifest.exchange.body_sha256 = sha("stale mirror copy")
    manifest.exchange.response_headers = [
        h for h in manifest.exchange.response_headers if h[0] != "Docker-Content-Digest"
    ]
    f = diagnose(r.session())[0]
    assert f.rule == "manifest.digest-mismatch" and "not the one asked for" in f.title


def test_full_accept_header_is_quiet():
    index = step_by_kind(healthy_hub_pull().session(), StepKind.MANIFEST_INDEX)
    assert [v for k, v in index.exchange.request_headers if k == "Accept"] == ACCEPT_DOCKER
    assert diagnose(healthy_hub_pull().session()) == []
