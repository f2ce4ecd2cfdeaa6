"""Blob rules on recorded pulls: unknown blobs, digest mismatches and the CDN hop."""

from __future__ import annotations

from diagnose_recorded import CDN, HUB, LAYER_DIGEST, healthy_hub_pull, sha, step_by_kind

from pulltrace.diagnose import diagnose
from pulltrace.model import Link, Severity, StepFacts, StepKind


def test_blob_unknown():
    r = healthy_hub_pull()
    redirect = step_by_kind(r.session(), StepKind.BLOB_REDIRECT, 1)
    r.steps = r.steps[: redirect.index]
    r.add(StepKind.ERROR, "GET", redirect.exchange.url, 404,
          request_headers=[h for h in redirect.exchange.request_headers if h[0] == "Authorization"],
          body='{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry",'
               '"detail":"' + LAYER_DIGEST + '"}]}')
    f = diagnose(r.session())[0]
    assert f.rule == "blob.unknown"
    assert LAYER_DIGEST[:19] in f.cause and "library/tiny" in f.title


def test_cdn_bytes_do_not_hash_to_the_digest():
    r = healthy_hub_pull()
    download = step_by_kind(r.session(), StepKind.CDN_DOWNLOAD, 1)
    download.exchange.body_sha256 = sha("truncated by a broken cache")
    f = diagnose(r.session())[0]
    assert f.rule == "blob.digest-mismatch"
    assert LAYER_DIGEST in f.cause and CDN in f.title
    assert f.steps == [step_by_kind(r.session(), StepKind.BLOB_REDIRECT, 1).id, download.id]


def test_digest_is_read_from_the_storage_path_when_nothing_links_it():
    r = healthy_hub_pull()
    download = step_by_kind(r.session(), StepKind.CDN_DOWNLOAD, 1)
    download.facts = StepFacts()
    download.links = []
    download.exchange.body_sha256 = sha("other bytes")
    assert diagnose(r.session())[0].rule == "blob.digest-mismatch"


def test_partial_content_is_not_a_mismatch():
    r = healthy_hub_pull()
    download = step_by_kind(r.session(), StepKind.CDN_DOWNLOAD, 1)
    download.exchange.status = 206
    download.exchange.body_sha256 = sha("the first megabyte")
    assert diagnose(r.session()) == []


def test_cdn_refuses_an_expired_signed_url():
    r = healthy_hub_pull()
    download = step_by_kind(r.session(), StepKind.CDN_DOWNLOAD, 1)
    download.exchange.status = 403
    download.exchange.reason = "Forbidden"
    download.exchange.started_at += 1200
    download.exchange.response_body_preview = (
        "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    )
    download.exchange.body_sha256 = None
    f = diagnose(r.session())[0]
    assert f.rule == "blob.cdn-refused"
    assert "expired" in f.cause and "1200 s after the redirect" in f.cause


def test_cdn_refusal_quotes_the_storage_xml_error_after_its_declaration():
    """S3 starts its error body with an XML declaration line; the cause quotes Code and Message."""
    r = healthy_hub_pull()
    download = step_by_kind(r.session(), StepKind.CDN_DOWNLOAD, 1)
    download.exchange.status = 403
    download.exchange.reason = "Forbidden"
    download.exchange.response_body_preview = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        "<Message>Request has expired</Message><Expires>2023-11-14T22:33:20Z</Expires></Error>")
    download.exchange.body_sha256 = None
    f = diagnose(r.session())[0]
    assert f.rule == "blob.cdn-refused"
    assert "(AccessDenied: Request has expired)" in f.cause and "<?xml" not in f.cause


def test_cdn_refuses_forwarded_authorization():
    r = healthy_hub_pull()
    download = step_by_kind(r.session(), StepKind.CDN_DOWNLOAD, 1)
    download.exchange.status = 400
    download.exchange.request_headers.append(("Authorization", "Bearer eyJhbGci…"))
    download.exchange.body_sha256 = None
    findings = diagnose(r.session())
    assert findings[0].rule == "blob.cdn-refused"
    assert "Authorization" in findings[0].cause
    assert "blob.auth-to-cdn" in [f.rule for f in findings]


def test_redirect_loop_between_registry_and_cdn():
    r = healthy_hub_pull()
    redirect = step_by_kind(r.session(), StepKind.BLOB_REDIRECT, 1)
    r.steps = r.steps[: redirect.index]
    cdn_url = f"https://{CDN}/docker/registry/v2/blobs/sha256/aa/{'a' * 64}/data"
    auth = [h for h in redirect.exchange.request_headers if h[0] == "Authorization"]
    for _ in range(3):
        r.add(StepKind.BLOB_REDIRECT, "GET", redirect.exchange.url, 307, request_headers=auth,
              response_headers=[("Location", cdn_url)])
        r.add(StepKind.CDN_DOWNLOAD, "GET", cdn_url, 302, response_headers=[("Location", redirect.exchange.url)])
    f = diagnose(r.session())[0]
    assert f.rule == "blob.redirect-loop"
    assert f"{HUB} → {CDN}" in f.title


def test_bearer_token_sent_to_the_cdn_host_is_a_warning():
    r = healthy_hub_pull()
    download = step_by_kind(r.session(), StepKind.CDN_DOWNLOAD, 0)
    download.exchange.request_headers.append(("Authorization", "Bearer eyJhbGci…"))
    findings = diagnose(r.session())
    assert [(f.rule, f.severity) for f in findings] == [("blob.auth-to-cdn", Severity.WARNING)]
    assert CDN in findings[0].title and HUB in findings[0].cause


def test_basic_credentials_sent_to_the_cdn_host_are_an_error():
    r = healthy_hub_pull()
    download = step_by_kind(r.session(), StepKind.CDN_DOWNLOAD, 0)
    download.exchange.request_headers.append(("Authorization", "Basic YWRt…"))
    f = diagnose(r.session())[0]
    assert (f.rule, f.severity) == ("blob.auth-to-cdn", Severity.ERROR)
    assert "password" in f.fix


def test_redirect_to_the_same_host_with_authorization_is_not_a_leak():
    # gcr-style: the 302 stays on the registry host; keeping Authorization there is fine.
    r = healthy_hub_pull()
    download = step_by_kind(r.session(), StepKind.CDN_DOWNLOAD, 0)
    redirect = step_by_kind(r.session(), StepKind.BLOB_REDIRECT, 0)
    same = f"https://{HUB}/storage/blob?sig=…"
    redirect.exchange.response_headers = [("Location", same)]
    download.exchange.url = same
    download.exchange.request_headers.append(("Authorization", "Bearer eyJhbGci…"))
    download.links = [Link("follows", redirect.id)]
    assert diagnose(r.session()) == []
