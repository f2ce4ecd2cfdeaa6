"""What a refusal means to the user depends on who refused: the registry, or the download
host a blob redirect led to (a CDN or object storage, whose 403 is not about the login)."""

from __future__ import annotations

import httpx

from pulltrace.client.endpoints import Endpoint
from pulltrace.client.errors import AccessDenied, RegistryError
from pulltrace.client.registry import RegistryClient, storage_error
from pulltrace.client.transport import Response
from pulltrace.model import Exchange

REGISTRY = "https://expired.pulltrace.test"
BLOB = f"{REGISTRY}/v2/library/tiny/blobs/sha256:{'a' * 64}"
STORAGE = ("https://expired-cdn.pulltrace.test/docker/registry/v2/blobs/sha256/aa/" + "a" * 64
           + "/data?X-Amz-Signature=abc")
S3_EXPIRED = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
              "<Message>Request has expired</Message></Error>")


def _client() -> RegistryClient:
    return RegistryClient(None, Endpoint(REGISTRY), "library/tiny",  # type: ignore[arg-type]
                          display_name="expired.pulltrace.test/library/tiny:latest")


def _response(hops: list[tuple[str, int]], body: str) -> Response:
    exchanges = [Exchange(id=f"x{i}", method="GET", url=url, started_at=0.0, status=status)
                 for i, (url, status) in enumerate(hops)]
    exchanges[-1].response_body_preview = body
    url, status = hops[-1]
    http = httpx.Response(status, content=body.encode(), request=httpx.Request("GET", url))
    return Response(http, exchanges[-1], exchanges)


def test_storage_error_reads_s3_xml():
    assert storage_error(S3_EXPIRED) == "AccessDenied: Request has expired"
    assert storage_error(S3_EXPIRED.encode()) == "AccessDenied: Request has expired"
    assert storage_error('{"errors":[]}') == ""


def test_a_cdn_refusal_after_a_redirect_names_the_download_host_not_the_login():
    res = _response([(BLOB, 307), (STORAGE, 403)], S3_EXPIRED)
    err = _client().fail(res, f"blob sha256:{'a' * 64}")
    assert isinstance(err, RegistryError) and not isinstance(err, AccessDenied)
    text = str(err)
    assert "download host expired-cdn.pulltrace.test" in text
    assert "403: AccessDenied: Request has expired" in text and "\n" not in text
    assert "login" not in text


def test_a_refusal_by_the_registry_itself_is_still_about_access():
    res = _response([(BLOB, 403)],
                    '{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}')
    assert isinstance(_client().fail(res, "blob"), AccessDenied)
