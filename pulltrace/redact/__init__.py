"""Masking secrets where exchanges enter the model and again on every output.

Masks keep their shape, so a reader still sees what kind of secret went where:
`Bearer eyJhbGci…`, `Basic YWRt…`, `?Signature=…`, `"token":"eyJhbGci…"`. Masking
is deterministic (the same secret always masks to the same text) and idempotent: a
redirect's Location and the CDN request that follows it stay equal after masking,
and masking a masked trace changes nothing.

Secrets are found by name (headers, query parameters, form fields, JSON keys in any
spelling: `names`) and by shape wherever they are (JWTs, vendor API keys, Bearer and
Basic credentials, URL userinfo, signed query strings: `shapes`, `jsontext`). Every
pattern runs in linear time on untrusted text (bench/fuzz_masking.py times it).

Before a token response body is masked, the JWT claims it carries are decoded
(without verification: pulltrace only displays them) into `Exchange.token_claims`.
"""

from pulltrace.redact.claims import decode_claims, token_from_body, with_claims
from pulltrace.redact.names import is_secret_header, is_secret_key, is_secret_query_name
from pulltrace.redact.shapes import ELLIPSIS, looks_like_credential, mask_authorization, mask_secret
from pulltrace.redact.text import mask_header_value, mask_headers, mask_json_text, mask_text, mask_url
from pulltrace.redact.walk import finish_exchange, mask_exchange, mask_trace, mask_value

__all__ = [
    "ELLIPSIS",
    "decode_claims",
    "is_secret_header",
    "is_secret_key",
    "is_secret_query_name",
    "looks_like_credential",
    "mask_authorization",
    "finish_exchange",
    "mask_exchange",
    "mask_header_value",
    "mask_headers",
    "mask_json_text",
    "mask_secret",
    "mask_text",
    "mask_trace",
    "mask_url",
    "mask_value",
    "token_from_body",
    "with_claims",
]
