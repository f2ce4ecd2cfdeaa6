"""Masking keeps a secret's shape and never the secret; the same secret masks the same way."""

import jwt

from pulltrace.model import Exchange
from pulltrace.redact import (
    decode_claims,
    mask_authorization,
    mask_exchange,
    mask_headers,
    mask_text,
    mask_url,
)

TOKEN = jwt.encode({"access": [{"type": "repository", "name": "library/tiny", "actions": ["pull"]}],
                    "sub": "alice"}, "k" * 32, algorithm="HS256")


def test_authorization_keeps_scheme_and_a_prefix():
    assert mask_authorization(f"Bearer {TOKEN}") == f"Bearer {TOKEN[:8]}…"
    assert mask_authorization("Basic YWRtaW46YWRtaW4tcGFzcw==") == "Basic YWRt…"
    # Idempotent: masking a masked value changes nothing.
    assert mask_authorization("Bearer eyJhbGci…") == "Bearer eyJhbGci…"


def test_signed_url_query_values_are_masked_and_the_rest_kept():
    url = ("https://oss.test/docker/registry/v2/blobs/sha256/a2/a24b/data?Expires=1597905273"
           "&OSSAccessKeyId=LTAI4G6zf8H9&Signature=%2FNOGZk%3D&partNumber=1")
    assert mask_url(url) == ("https://oss.test/docker/registry/v2/blobs/sha256/a2/a24b/data?Expires=…"
                             "&OSSAccessKeyId=…&Signature=…&partNumber=1")
    assert mask_url("https://cdn.test/x?verify=1597907265-RDidtXVh%3D") == "https://cdn.test/x?verify=…"
    assert mask_url("https://s3.test/x?X-Amz-Signature=abc&X-Amz-Credential=def") == \
        "https://s3.test/x?X-Amz-Signature=…&X-Amz-Credential=…"
    assert mask_url("https://u:p4ss@r.test/v2/") == "https://u:…@r.test/v2/"
    # A token request's own query (scope, service, account) is not secret.
    plain = "https://auth.test/token?account=admin&scope=repository%3Aa%3Apull&service=s"
    assert mask_url(plain) == plain


def test_headers_mask_credentials_cookies_and_urls():
    headers = [
        ("Authorization", f"Bearer {TOKEN}"),
        ("Cookie", "sid=0efefb1825e5b095; theme=dark"),
        ("Set-Cookie", "sid=f5373e516c49009b; Path=/; Secure; HttpOnly"),
        ("Location", "https://cdn.test/o?Signature=abcdef"),
        ("Content-Type", "application/json"),
    ]
    assert mask_headers(headers) == [
        ("Authorization", f"Bearer {TOKEN[:8]}…"),
        ("Cookie", "sid=0efe…; theme=d…"),
        ("Set-Cookie", "sid=f537…; Path=/; Secure; HttpOnly"),
        ("Location", "https://cdn.test/o?Signature=…"),
        ("Content-Type", "application/json"),
    ]


def test_token_bodies_keep_their_json_shape():
    body = '{"token":"%s","access_token":"%s","refresh_token":"r3fr3sh-t0k3n-value","expires_in":300}' % (
        TOKEN, TOKEN)
    masked = mask_text(body)
    assert TOKEN not in masked and "r3fr3sh-t0k3n-value" not in masked
    assert masked == ('{"token":"%s…","access_token":"%s…","refresh_token":"r3fr3s…","expires_in":300}'
                      % (TOKEN[:8], TOKEN[:8]))
    # Harbor answers `"access_token":""`: nothing to mask, nothing invented.
    assert mask_text('{"access_token":""}') == '{"access_token":""}'


def test_text_masks_jwts_credentials_and_signed_links_anywhere():
    html = '<a href="https://cdn02.quay.io/sha256/c3/c365?Expires=1597905310&amp;Signature=ETFKe7k0WMPM5A">'
    assert mask_text(html) == '<a href="https://cdn02.quay.io/sha256/c3/c365?Expires=…&amp;Signature=…">'
    assert TOKEN not in mask_text(f"error: token {TOKEN} rejected")
    assert mask_text("Authorization: Basic YWRtaW46YWRtaW4tcGFzcw==") == "Authorization: Basic YWRt…"


def test_exchange_masking_keeps_claims_and_form_shape():
    ex = Exchange(
        id="1", method="POST", url="https://auth.test/token", started_at=0.0,
        request_headers=[("Authorization", "Basic YWRtaW46YWRtaW4tcGFzcw==")],
        request_body_preview="grant_type=password&username=admin&password=admin-pass&scope=repository%3Aa%3Apull",
        status=200, response_body_preview='{"access_token":"%s","refresh_token":"abcdefghijkl"}' % TOKEN,
        secrets_masked=False,
    )
    masked = mask_exchange(ex)
    assert masked.secrets_masked is True
    assert masked.token_claims == decode_claims(TOKEN)
    assert masked.token_claims["sub"] == "alice"
    assert masked.request_body_preview == "grant_type=password&username=admin&password=…&scope=repository%3Aa%3Apull"
    assert TOKEN not in masked.response_body_preview
    assert ex.response_body_preview and TOKEN in ex.response_body_preview  # the original is untouched


def test_opaque_tokens_have_no_claims():
    assert decode_claims("AJAD5v0sN9g4glsFyOyeRUycw1lLDUpkrSkVn+8Ybmf") is None
    assert decode_claims("a.b.c") is None
