"""Manifests from a hostile registry: altered in flight, or self-consistent but malformed.

The relay sits in front of the lab's real hub; each test changes one thing about what the
real registry answered and checks the pull refuses it in one line, exit 1, no image written.
"""

from __future__ import annotations

import json

import pytest
from hostilehelpers import altered, assert_refused, pull
from relay import Reply, Request, ServedManifest, digest_of, is_manifest_get

from pulltrace.client.transport import MAX_MANIFEST_BYTES
from pulltrace.reference import parse_reference

pytestmark = pytest.mark.lab


def familiar(ref: str) -> str:
    return parse_reference(ref).familiar


def test_manifest_altered_in_flight_is_refused(lab, relay, tmp_path, capsys):
    sent: list[bytes] = []

    def alter(request: Request, forward) -> Reply:
        reply = forward(request)
        if is_manifest_get(request, reply):
            reply.body = altered(reply.body)  # the HEAD's digest and the GET's header unchanged
            sent.append(reply.body)
        return reply

    hub = relay("hub", alter)
    ref = f"{lab.host('hub')}:{hub.port}/library/tiny"
    code, err, out = pull(capsys, tmp_path, ref)
    assert_refused(code, err, out, "manifest ")
    expected = lab.images["library/tiny"].digest
    assert err == (f"pulltrace: manifest {familiar(ref)} fetched by digest {expected} arrived as bytes hashing to "
                   f"{digest_of(sent[0])}; refusing it (altered on the way, or the registry's storage is damaged)\n")
    assert not (tmp_path / "cache" / "sha256").exists() or not any((tmp_path / "cache" / "sha256").iterdir())


def test_manifest_by_tag_altered_in_flight_is_refused_by_its_docker_content_digest(lab, relay, tmp_path, capsys):
    """No digest on the HEAD: the GET is by tag, and its own Docker-Content-Digest is the promise."""
    sent: list[bytes] = []

    def alter(request: Request, forward) -> Reply:
        reply = forward(request)
        if request.method == "HEAD":
            reply.set_header("Docker-Content-Digest", None)
        if is_manifest_get(request, reply):
            reply.body = altered(reply.body)
            sent.append(reply.body)
        return reply

    hub = relay("hub", alter)
    ref = f"{lab.host('hub')}:{hub.port}/library/tiny"
    code, err, out = pull(capsys, tmp_path, ref)
    assert_refused(code, err, out, "manifest ")
    assert err == (f"pulltrace: manifest {familiar(ref)} fetched by tag arrived as bytes hashing to "
                   f"{digest_of(sent[0])}, but its Docker-Content-Digest is {lab.images['library/tiny'].digest}; "
                   "refusing it (altered on the way?)\n")


def test_platform_manifest_altered_in_flight_is_refused(lab, relay, tmp_path, capsys):
    child = lab.images["library/multi"].platforms["linux/arm64/v8"].digest
    sent: list[bytes] = []

    def alter(request: Request, forward) -> Reply:
        reply = forward(request)
        if is_manifest_get(request, reply) and request.path.endswith(child):
            reply.body = altered(reply.body)
            sent.append(reply.body)
        return reply

    hub = relay("hub", alter)
    ref = f"{lab.host('hub')}:{hub.port}/library/multi"
    code, err, out = pull(capsys, tmp_path, ref, "--platform", "linux/arm64")
    assert_refused(code, err, out, "platform manifest ")
    assert err == (f"pulltrace: platform manifest linux/arm64/v8 of {familiar(ref)} fetched by digest {child} "
                   f"arrived as bytes hashing to {digest_of(sent[0])}; refusing it (altered on the way, or the "
                   "registry's storage is damaged)\n")


def test_config_altered_in_flight_is_refused(lab, relay, tmp_path, capsys):
    config = lab.images["library/tiny"].config_digest

    def alter(request: Request, forward) -> Reply:
        reply = forward(request)
        if request.method == "GET" and config[7:] in request.path and reply.status == 200:
            reply.body = altered(reply.body)  # valid JSON, another digest
        return reply

    cdn = relay("cdn", alter)
    code, err, out = pull(capsys, tmp_path, f"{lab.host('hub')}/library/tiny",
                          "--blob-proxy", cdn.base(lab.host("cdn")))
    assert_refused(code, err, out, f"blob {config} arrived corrupt: ")
    assert not (tmp_path / "cache" / "sha256" / config[7:]).exists()


def _layer(data: dict, **fields: object) -> bytes:
    data["layers"][0].update(fields)
    return json.dumps(data).encode()


MALFORMED = {
    "path-traversal-digest": (lambda d: _layer(d, digest="sha256:../../../../../../tmp/pulltrace-pwned"),
                              "layer 1 of manifest {ref} has a malformed digest 'sha256:../../../../../../tmp/"
                              "pulltrace-pwned' (a digest is algorithm:hex, e.g. sha256:<64 hex>); the registry "
                              "sent a malformed manifest"),
    "slash-in-digest": (lambda d: _layer(d, digest="sha256/" + "a" * 64),
                        "layer 1 of manifest {ref} has a malformed digest 'sha256/" + "a" * 64 + "' (a digest is "
                        "algorithm:hex, e.g. sha256:<64 hex>); the registry sent a malformed manifest"),
    "uppercase-hex": (lambda d: _layer(d, digest="sha256:" + "A" * 64),
                      "layer 1 of manifest {ref} has a malformed sha256 digest 'sha256:" + "A" * 64 + "' (64 "
                      "lowercase hex characters expected)"),
    "unknown-algorithm": (lambda d: _layer(d, digest="md5:d41d8cd98f00b204e9800998ecf8427e"),
                          "layer 1 of manifest {ref} uses digest algorithm 'md5'; pulltrace verifies sha256 "
                          "digests only"),
    "digest-not-a-string": (lambda d: _layer(d, digest=12),
                            "layer 1 of manifest {ref} has a digest that is not a string (12); the registry sent "
                            "a malformed manifest"),
    "config-digest-missing": (lambda d: json.dumps({**d, "config": {"mediaType": d["config"]["mediaType"],
                                                                    "size": 3}}).encode(),
                              "the config of manifest {ref} has no digest"),
    "negative-size": (lambda d: _layer(d, size=-1),
                      "layer 1 of manifest {ref} has an invalid size -1 (a byte count is required)"),
    "size-as-string": (lambda d: _layer(d, size="1468"),
                       "layer 1 of manifest {ref} has an invalid size '1468' (a byte count is required)"),
    "size-1e999": (lambda d: _layer(d, size=0).replace(b'"size": 0', b'"size": 1e999'),
                   "layer 1 of manifest {ref} has an invalid size inf (a byte count is required)"),
    "size-true": (lambda d: _layer(d, size=True),
                  "layer 1 of manifest {ref} has an invalid size True (a byte count is required)"),
    "media-type-list": (lambda d: _layer(d, mediaType=["a", "b"]),
                        "layer 1 of manifest {ref} has a mediaType that is not a string (['a', 'b'])"),
    "layers-not-a-list": (lambda d: json.dumps({**d, "layers": {"0": d["layers"][0]}}).encode(),
                          "manifest {ref}: `layers` is not a list ({{'0': {{'…"),
    "layer-not-an-object": (lambda d: json.dumps({**d, "layers": ["sha256:" + "a" * 64]}).encode(),
                            "layer 1 of manifest {ref} is not a descriptor object ('sha256:" + "a" * 64 + "')"),
    "nested-1200-deep": (lambda d: json.dumps(d).encode()[:-1] + b', "annotations": ' + b"[" * 1200
                         + b"]" * 1200 + b"}",
                         "manifest {ref} is JSON nested too deeply; refusing it"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_descriptor_is_a_one_line_error(lab, relay, tmp_path, capsys, case):
    transform, message = MALFORMED[case]
    hub = relay("hub", ServedManifest(transform))
    ref = f"{lab.host('hub')}:{hub.port}/library/tiny"
    code, err, out = pull(capsys, tmp_path, ref)
    expected = "pulltrace: " + message.format(ref=familiar(ref))
    if expected.endswith("…"):
        assert_refused(code, err, out, expected[len("pulltrace: "):-1])
    else:
        assert_refused(code, err, out, "")
        assert err == expected + "\n"
    # Nothing was requested by the bad digest and nothing was written outside the cache.
    assert not any("pulltrace-pwned" in r.path or "/blobs/" in r.path for r in hub.requests)
    assert not list(tmp_path.parent.glob("**/pulltrace-pwned*"))
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_malformed_index_entry_platform_is_a_one_line_error(lab, relay, tmp_path, capsys):
    def transform(data: dict) -> bytes:
        data["manifests"][0]["platform"] = "linux/amd64"
        return json.dumps(data).encode()

    hub = relay("hub", ServedManifest(transform))
    ref = f"{lab.host('hub')}:{hub.port}/library/multi"
    code, err, out = pull(capsys, tmp_path, ref)
    assert_refused(code, err, out, "")
    assert err == (f"pulltrace: entry 1 of manifest {familiar(ref)} has a platform that is not an object "
                   "('linux/amd64')\n")


def test_malformed_head_digest_is_refused_before_it_becomes_a_path(lab, relay, tmp_path, capsys):
    def lie(request: Request, forward) -> Reply:
        reply = forward(request)
        if request.method == "HEAD" and reply.status == 200:
            reply.set_header("Docker-Content-Digest", "sha256:../../../v2/team/app/manifests/latest")
        return reply

    hub = relay("hub", lie)
    ref = f"{lab.host('hub')}:{hub.port}/library/tiny"
    code, err, out = pull(capsys, tmp_path, ref)
    assert_refused(code, err, out, "")
    assert err == (f"pulltrace: the Docker-Content-Digest {lab.host('hub')}:{hub.port} answered to HEAD "
                   f"{familiar(ref)} has a malformed digest 'sha256:../../../v2/team/app/manifests/latest' "
                   "(a digest is algorithm:hex, e.g. sha256:<64 hex>); the registry sent a malformed manifest\n")
    assert not any(r.method == "GET" and "/manifests/" in r.path for r in hub.requests)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_manifest_is_refused_while_it_streams(lab, relay, tmp_path, capsys, chunked):
    """A valid, self-consistent 64 MiB manifest: refused at containerd's cap, not read to the end."""
    def pad(data: dict) -> bytes:
        data["annotations"] = {"org.example.pad": "x" * (64 * 1024 * 1024)}
        return json.dumps(data).encode()

    served = ServedManifest(pad, chunked=chunked)
    hub = relay("hub", served)
    ref = f"{lab.host('hub')}:{hub.port}/library/tiny"
    code, err, out = pull(capsys, tmp_path, ref)
    [digest] = served.served
    seen = f"{len(served.served[digest])} bytes announced" if not chunked else "more than that sent"
    assert_refused(code, err, out, "")
    assert err == (f"pulltrace: {lab.host('hub')}:{hub.port} sent a manifest larger than 4.2 MiB ({seen}) for "
                   f"https://{lab.host('hub')}:{hub.port}/v2/library/tiny/manifests/{digest}; refusing it — "
                   "no registry needs one that large\n")
    assert MAX_MANIFEST_BYTES == 4 * 1048 * 1048
    if chunked:
        assert hub.bytes_sent < len(served.served[digest]) // 2


def _config(**fields: object) -> bytes:
    base = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "d" * 64]}}
    return json.dumps({**base, **fields}).encode()


CONFIGS = {
    "diff-ids-an-object": (_config(rootfs={"type": "layers", "diff_ids": {"a": 1}}),
                           "has no list of sha256 rootfs.diff_ids ({'a': 1}); refusing it"),
    "diff-id-malformed": (_config(rootfs={"type": "layers", "diff_ids": ["sha256:../x"]}),
                          "has no list of sha256 rootfs.diff_ids (['sha256:../x']); refusing it"),
    "diff-ids-too-few": (_config(rootfs={"type": "layers", "diff_ids": []}),
                         "names 0 layer diff_ids for 1 layers; refusing it"),
    "os-a-list": (_config(os=["linux"]), "has an os that is not a string (['linux']); refusing it"),
    "nested-1200-deep": (b'{"history": ' + b"[" * 1200 + b"]" * 1200 + b"}", "is JSON nested too deeply; refusing it"),
    "not-an-object": (b"[]", "is JSON but not an object; refusing it"),
}


@pytest.mark.parametrize("case", CONFIGS, ids=list(CONFIGS))
def test_malformed_image_config_is_refused_before_the_layers(lab, relay, tmp_path, capsys, case):
    """A hostile registry names a config of its own making (its digest is right): the config
    itself must be one a loader can use."""
    config, reason = CONFIGS[case]

    def transform(data: dict) -> bytes:
        data["config"].update(digest=digest_of(config), size=len(config))
        return json.dumps(data).encode()

    hub = relay("hub", ServedManifest(transform, blobs=[config]))
    ref = f"{lab.host('hub')}:{hub.port}/library/tiny"
    code, err, out = pull(capsys, tmp_path, ref)
    assert_refused(code, err, out, "")
    assert err == f"pulltrace: the config {digest_of(config)[:19]}… of {familiar(ref)} {reason}\n"
    layer = lab.images["library/tiny"].layers[0].digest
    assert not any(layer in r.path for r in hub.requests)  # refused before any layer was fetched
