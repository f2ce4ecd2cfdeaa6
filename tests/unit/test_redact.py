"""Masking keeps a secret's shape and never the secret; the same secret masks the same way."""

import jwt

from pulltrace.model import Exchange
from pulltrace.redact import (
    decode_claims,
    mask_authorization,
    mask_exchange,
    mask_headers,
    mask_json_text,
    mask_text,
    mask_url,
)

TOKEN = jwt.encode({"access": [{"type": "repository", "name": "library/tiny", "actions": ["pull"]}],
                    "sub": "alice"}, "k" * 32, algorithm="HS256")


def test_the_empty_basic_credential_skopeo_sends_stays_readable():
    # base64 of ":" holds no secret; masked, a saved trace could no longer say "anonymous".
    assert mask_authorization("Basic Og==") == "Basic Og=="
    assert mask_authorization("basic og") == "basic og"
    assert mask_authorization("Basic Ogx=") == "Basic O…"


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
    body = f'{{"token":"{TOKEN}","access_token":"{TOKEN}","refresh_token":"r3fr3sh-t0k3n-value","expires_in":300}}'
    masked = mask_text(body)
    assert TOKEN not in masked and "r3fr3sh-t0k3n-value" not in masked
    assert masked == (f'{{"token":"{TOKEN[:8]}…","access_token":"{TOKEN[:8]}…",'
                      '"refresh_token":"r3fr3s…","expires_in":300}')
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
        status=200, response_body_preview=f'{{"access_token":"{TOKEN}","refresh_token":"abcdefghijkl"}}',
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


# --- by shape: whatever the name around it -------------------------------------------------

def test_a_jwt_is_masked_anywhere_and_keeps_its_prefix():
    assert mask_text(f"https://cdn.test/blobs/{TOKEN}/data") == "https://cdn.test/blobs/eyJhbGci…/data"
    assert mask_text(f"next={TOKEN}&n=1") == "next=eyJhbGci…&n=1"
    # URL-encoded inside another URL's query: the JWT starts after `%3D`.
    assert mask_text(f"?next=https%3A%2F%2Fx%2F%3Ft%3D{TOKEN}") == "?next=https%3A%2F%2Fx%2F%3Ft%3DeyJhbGci…"
    # A run of `eyJ` without dots is no JWT (and masking it must not take quadratic time).
    assert mask_text("eyJeyJeyJeyJ") == "eyJeyJeyJeyJ"
    # Dotted names and versions are not JWTs.
    assert mask_text("registry-1.docker.io v1.2.3") == "registry-1.docker.io v1.2.3"


def test_a_location_and_the_request_that_follows_it_mask_the_same():
    location = f"https://cdn.test/b/{TOKEN}?X-Amz-Signature=abc123&X-Amz-Date=20240101"
    assert mask_url(location) == mask_text(location) == "https://cdn.test/b/eyJhbGci…?X-Amz-Signature=…&X-Amz-Date=…"
    assert mask_headers([("Location", location)]) == [("Location", mask_url(location))]


def test_credential_headers_are_masked_by_name():
    headers = [
        ("X-Docker-Token", 'signature=3f9a8b7c6d,repository="library/busybox",access=read'),
        ("X-Auth-Token", "gAAAAABk1x2y3z"),
        ("X-JFrog-Art-Api", "AKCp8jQwertyuiop1234567890"),
        ("Private-Token", "glpat-AbCdEfGhIjKlMnOp1234"),
        ("X-Api-Key", "k3y-value"),
        ("X-Registry-Auth", "eyJ1c2VybmFtZSI6ImFsaWNlIn0="),
        ("X-Session-Id", "s3ss10n"),
    ]
    assert mask_headers(headers) == [
        ("X-Docker-Token", "sign…"),
        ("X-Auth-Token", "gAAA…"),
        ("X-JFrog-Art-Api", "AKCp…"),
        ("Private-Token", "glpa…"),
        ("X-Api-Key", "k3y…"),
        ("X-Registry-Auth", "eyJ1…"),
        ("X-Session-Id", "s3…"),
    ]


def test_a_credential_looking_value_is_masked_whatever_the_header():
    headers = [
        ("X-Custom", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5"),  # random base64: a credential
        ("X-Trace", f"id=1 {TOKEN}"),                  # a JWT inside any value
        ("X-Request-Id", "3f2a9c1e-7b6d-4e5f-8a9b-0c1d2e3f4a5b"),  # a UUID is an id
        ("CF-Ray", "5c59fe3f5d61258d-HKG"),
        ("Docker-Content-Digest", "sha256:" + "a" * 64),
        ("WWW-Authenticate", 'Bearer realm="https://auth.test/token",service="r",scope="repository:a/secret:pull"'),
        ("Link", '<https://cdn.test/x?sig=3f9a8b&se=2030-01-01>; rel="blob", </v2/_catalog?n=100&last=b>; rel="next"'),
    ]
    assert mask_headers(headers) == [
        ("X-Custom", "Zm9v…"),
        ("X-Trace", "id=1 eyJhbGci…"),
        ("X-Request-Id", "3f2a9c1e-7b6d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("CF-Ray", "5c59fe3f5d61258d-HKG"),
        ("Docker-Content-Digest", "sha256:" + "a" * 64),
        ("WWW-Authenticate", 'Bearer realm="https://auth.test/token",service="r",scope="repository:a/secret:pull"'),
        ("Link", '<https://cdn.test/x?sig=…&se=…>; rel="blob", </v2/_catalog?n=100&last=b>; rel="next"'),
    ]


def test_signed_url_parameters_of_every_cdn():
    cases = {
        # AWS SigV2 (S3) and SigV4
        "https://s3.test/o?AWSAccessKeyId=AKIA0&Expires=1700000000&Signature=abc%2B":
            "https://s3.test/o?AWSAccessKeyId=…&Expires=…&Signature=…",
        "https://s3.test/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Security-Token=FwoG&response-content-type=x":
            "https://s3.test/o?X-Amz-Algorithm=…&X-Amz-Security-Token=…&response-content-type=x",
        # CloudFront
        "https://d1.cloudfront.test/o?Expires=1&Signature=a~b&Key-Pair-Id=APKA":
            "https://d1.cloudfront.test/o?Expires=…&Signature=…&Key-Pair-Id=…",
        # GCS
        "https://storage.test/o?X-Goog-Algorithm=GOOG4&X-Goog-Credential=sa%40p&X-Goog-Signature=00ff":
            "https://storage.test/o?X-Goog-Algorithm=…&X-Goog-Credential=…&X-Goog-Signature=…",
        # Azure SAS
        "https://acct.blob.test/c/b?sv=2021-08-06&se=2030-01-01&sr=b&sp=r&sig=Xy%2Bz%3D":
            "https://acct.blob.test/c/b?sv=…&se=…&sr=…&sp=…&sig=…",
        # generic
        "https://r.test/v2/?access_token=opaque123&token=t0k&n=1": "https://r.test/v2/?access_token=…&token=…&n=1",
    }
    for url, masked in cases.items():
        assert mask_url(url) == masked


def test_userinfo_basic_and_cookies_in_free_text():
    assert mask_text("pull https://alice:pa55@word@registry.test/v2/ failed") == \
        "pull https://alice:…@registry.test/v2/ failed"
    assert mask_text("curl -H 'Authorization: Basic YWxpY2U6cGFzcw=='") == "curl -H 'Authorization: Basic YWxp…'"
    assert mask_text("Cookie: sid=0efefb1825e5b095; theme=dark\nSet-Cookie: t=abcdef123; Path=/") == \
        "Cookie: sid=0efe…; theme=d…\nSet-Cookie: t=abc…; Path=/"
    assert mask_text("X-Auth-Token: gAAAAABk1x2y3z\npassword: hunter2") == "X-Auth-Token: gAAA…\npassword: hu…"
    # Prose about credentials is not a credential; nor a scope naming a repository "secret".
    prose = "Bearer tokens expired; Basic credentials rejected for repository:team/secret:pull"
    assert mask_text(prose) == prose


def test_vendor_api_keys_are_masked_in_text():
    text = "ghp_abcdefghijklmnopqrstuvwxyz0123456789 AKIAABCDEFGHIJKLMNOP dckr_pat_AbCdEfGhIjKlMnOpQr"
    assert mask_text(text) == "ghp_… AKIA… dckr…"


def test_json_token_keys_in_any_casing_or_escape():
    body = ('{"accessToken":"abcDEF123456ghi","refreshToken":"zzzYYY999888",'
            '"authorizationData":[{"authorizationToken":"QVdTOnBhc3N3b3Jk","proxyEndpoint":"https://e.test"}],'
            f'"\\u0074oken":"escapedSecret99","id_token":"{TOKEN}","Password":123456}}')
    assert mask_text(body) == (
        '{"accessToken":"abcDE…","refreshToken":"zzzY…",'
        '"authorizationData":[{"authorizationToken":"QVdTO…","proxyEndpoint":"https://e.test"}],'
        '"\\u0074oken":"escap…","id_token":"eyJhbGci…","Password":"…"}')
    # A value hidden behind escapes is decoded before it is masked; the JSON stays JSON.
    escaped = '{"msg":"\\u0065yJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl at https://x/?a=1\\u0026sig=abc"}'
    assert mask_text(escaped) == '{"msg":"eyJhbGci… at https://x/?a=1&sig=…"}'
    # A preview cut inside the token's value still masks what is there.
    assert mask_text('{"token":"eyJhbGciOiJSUzI1NiIsInR5') == '{"token":"eyJhbGci…'
    # docker's config.json: `auth` is base64(user:password); a trace's `"auth": "bearer-credentials"` is not.
    assert mask_text('{"auth":"YWxpY2U6cGFzcw==","x":{"auth":"bearer-credentials"}}') == \
        '{"auth":"YWxpY…","x":{"auth":"bearer-credentials"}}'


def test_header_pairs_inside_json_are_masked_by_their_name():
    assert mask_json_text('[["X-Api-Key", "k3y-value"], ["Content-Type", "text/plain"]]') == \
        '[["X-Api-Key", "k3y…"], ["Content-Type", "text/plain"]]'
    assert mask_json_text('{"headers": [{"name": "Private-Token", "value": "glpat-secretsecret"}]}') == \
        '{"headers": [{"name": "Private-Token", "value": "glpa…"}]}'


def test_a_form_body_whose_secret_is_not_its_first_field():
    assert mask_text("grant_type=refresh_token&client_id=docker&refresh_token=r3fr3sh&scope=a") == \
        "grant_type=refresh_token&client_id=docker&refresh_token=…&scope=a"
    assert mask_text("client_id=x&client_secret=s3cr3t&username=bob&password=pw") == \
        "client_id=x&client_secret=…&username=bob&password=…"
    # Harbor's `offline_token=true` asks for a refresh token; it is not one.
    assert mask_url("https://h.test/service/token?offline_token=true&service=harbor") == \
        "https://h.test/service/token?offline_token=true&service=harbor"


def test_masking_twice_changes_nothing_and_a_long_value_ending_in_an_ellipsis_is_cut():
    once = mask_text(f'{{"token":"{TOKEN}"}} Bearer {TOKEN} ?Signature=abc')
    assert mask_text(once) == once
    # A loaded trace claiming a value is masked because it ends in "…" is not trusted.
    assert mask_authorization("Bearer s3cretlongervalue123…") == "Bearer s3cret…"
    assert mask_text("Bearer s3cretlongervalue123…") == "Bearer s3cret…"


def test_a_view_masking_a_masking_pass_output_gets_it_back_and_a_field_set_since_is_masked_again():
    from pulltrace.redact import mask_value

    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
    ex = Exchange(id="e", method="GET", url="https://hub.pulltrace.test/v2/", started_at=1.0,
                  request_headers=[("Authorization", f"Bearer {token}")])
    [masked] = mask_value([ex])
    assert masked.request_headers == [("Authorization", "Bearer eyJhbGci…")]
    assert mask_exchange(masked) is masked  # nothing left to mask: no second walk
    masked.error = f"refused Bearer {token}"
    again = mask_exchange(masked)
    assert again is not masked and again.error == "refused Bearer eyJhbGci…"
    [fresh] = mask_value([ex])
    fresh.request_headers.append(("X-Registry-Auth", "c2VjcmV0c2VjcmV0c2VjcmV0"))
    assert mask_exchange(fresh).request_headers[-1] == ("X-Registry-Auth", "c2Vj…")
