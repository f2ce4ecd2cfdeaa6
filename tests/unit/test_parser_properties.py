"""Every parser of untrusted input returns a value or raises its one UserError, whatever it
is given; well-formed input round-trips. A few hundred examples each (bench/fuzz.py runs
tens of thousands)."""

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulltrace import jsonbound
from pulltrace.auth import (
    Challenge,
    ChallengeError,
    ScopeError,
    TokenRequest,
    TokenResponse,
    TokenResponseError,
    parse_challenges,
    parse_scope,
    parse_token_response,
    read_token_request,
)
from pulltrace.errors import UserError
from pulltrace.manifest import ImageConfig, ManifestError, ParsedManifest, parse_image_config, parse_manifest
from pulltrace.reference import ImageReference, InvalidReference, parse_reference
from pulltrace.urls import InvalidURL, URLParts, split_url

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like the thing being parsed, and text that is anything at all.
REFERENCE_ALPHABET = string.ascii_letters + string.digits + "._-/:@[]" + "\x00\n\x1b é"
CHALLENGE_ALPHABET = string.ascii_letters + string.digits + ' ="\\,:/._-' + "\t\n\x1b"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
DIGEST = st.sampled_from(["sha256:" + "a" * 64, "sha512:" + "b" * 128, "sha256:abc", "md5:x", "", "sha256:" + "A" * 64])
descriptor_like = st.fixed_dictionaries(
    {},
    optional={
        "mediaType": st.sampled_from(["application/vnd.oci.image.manifest.v1+json", ""]) | json_values,
        "digest": DIGEST | json_values,
        "size": st.integers(min_value=-2, max_value=2**64) | json_values,
        "platform": st.fixed_dictionaries({}, optional={"os": st.text(max_size=5) | json_values,
                                                        "architecture": st.text(max_size=5) | json_values,
                                                        "variant": st.text(max_size=3) | json_values}) | json_values,
    },
)
manifest_like = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.sampled_from([1, 2]) | json_values,
        "mediaType": st.sampled_from(["application/vnd.oci.image.index.v1+json", ""]) | json_values,
        "manifests": st.lists(descriptor_like | json_values, max_size=3) | json_values,
        "config": descriptor_like | json_values,
        "layers": st.lists(descriptor_like | json_values, max_size=3) | json_values,
    },
)


def _one_line(e: Exception) -> None:
    assert isinstance(e, UserError) and isinstance(e, ValueError)
    message = str(e)
    assert message and "\n" not in message and len(message) < 1000


@SETTINGS
@given(st.text(alphabet=REFERENCE_ALPHABET, max_size=80) | st.text(max_size=80))
def test_references_parse_or_say_why(text):
    try:
        ref = parse_reference(text)
    except InvalidReference as e:
        _one_line(e)
        return
    assert isinstance(ref, ImageReference)
    assert parse_reference(str(ref)) == ref


@SETTINGS
@given(st.text(alphabet=CHALLENGE_ALPHABET, max_size=120) | st.text(max_size=60))
def test_challenges_parse_or_say_why(header):
    try:
        challenges = parse_challenges(header)
    except ChallengeError as e:
        _one_line(e)
        assert e.header == header
        return
    assert all(isinstance(c, Challenge) and c.scheme for c in challenges)


@SETTINGS
@given(
    st.sampled_from(["Bearer", "Basic", "bearer"]),
    st.dictionaries(st.sampled_from(["realm", "service", "scope", "error"]),
                    st.text(alphabet=string.printable, max_size=30), min_size=1),
)
def test_quoted_challenge_parameters_round_trip(scheme, params):
    params = {"realm": "https://auth.test/token", **params}
    quoted = ",".join(f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                      for k, v in params.items())
    [challenge] = parse_challenges(f"{scheme} {quoted}")
    assert challenge.scheme == scheme.lower()
    assert challenge.params == params


@SETTINGS
@given(st.text(alphabet=string.ascii_letters + ":,/*-_" + "\x00é", max_size=40) | st.text(max_size=40))
def test_scopes_parse_or_say_why(text):
    try:
        scope = parse_scope(text)
    except ScopeError as e:
        _one_line(e)
        return
    if scope.actions:
        assert parse_scope(str(scope)) == scope


@SETTINGS
@given(st.text(max_size=100), st.none() | st.text(max_size=100))
def test_token_requests_are_always_read(url, body):
    assert isinstance(read_token_request(url, body), TokenRequest)


@SETTINGS
@given(st.binary(max_size=100) | json_values.map(lambda v: json.dumps(v).encode())
       | st.dictionaries(st.sampled_from(["token", "access_token", "expires_in", "refresh_token", "issued_at"]),
                         json_values).map(lambda v: json.dumps(v).encode()))
def test_token_responses_parse_or_say_why(body):
    try:
        response = parse_token_response(body)
    except TokenResponseError as e:
        _one_line(e)
        return
    assert isinstance(response, TokenResponse) and isinstance(response.token, str) and response.token


@SETTINGS
@given(manifest_like.map(json.dumps) | st.binary(max_size=60) | json_values.map(json.dumps),
       st.none() | st.text(max_size=30))
def test_manifests_parse_or_say_why(body, content_type):
    try:
        manifest = parse_manifest(body, content_type)
    except ManifestError as e:
        _one_line(e)
        return
    assert isinstance(manifest, ParsedManifest)
    for d in (*manifest.manifests, *manifest.layers, *([manifest.config] if manifest.config else [])):
        assert isinstance(d.digest, str) and isinstance(d.size, int) and 0 <= d.size < 2**63
        assert isinstance(d.media_type, str)


@SETTINGS
@given(st.fixed_dictionaries({}, optional={"os": json_values, "architecture": st.text(max_size=4),
                                           "rootfs": st.fixed_dictionaries({}, optional={
                                               "diff_ids": st.lists(DIGEST | json_values, max_size=3) | json_values})
                                           | json_values}).map(json.dumps) | st.binary(max_size=40))
def test_image_configs_parse_or_say_why(body):
    try:
        config = parse_image_config(body)
    except ManifestError as e:
        _one_line(e)
        return
    assert isinstance(config, ImageConfig)


@SETTINGS
@given(json_values)
def test_bounded_json_round_trips_what_json_writes(value):
    assert jsonbound.loads(json.dumps(value)) == value


@SETTINGS
@given(st.text(alphabet='[]{}",:\\u0123456789abcdefnrtl ', max_size=200) | st.binary(max_size=60))
def test_bounded_json_never_raises_anything_else(text):
    try:
        jsonbound.loads(text, max_depth=8)
    except jsonbound.JSONBoundError as e:
        _one_line(e)


@SETTINGS
@given(st.text(alphabet=string.ascii_letters + string.digits + ":/@[]?#%.-_ \x00", max_size=60)
       | st.text(max_size=40).map(lambda t: "https://" + t))
def test_urls_split_or_say_why(url):
    try:
        parts = split_url(url)
    except InvalidURL as e:
        _one_line(e)
        return
    assert isinstance(parts, URLParts)
    assert parts.port is None or 0 <= parts.port <= 65535
    assert "@" not in parts.host
