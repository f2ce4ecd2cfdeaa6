import pytest

from pulltrace.reference import ReferenceError, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "full", "host", "reference"),
    [
        ("alpine", "docker.io/library/alpine:latest", "registry-1.docker.io", "latest"),
        ("alpine:3.19", "docker.io/library/alpine:3.19", "registry-1.docker.io", "3.19"),
        ("bitnami/redis", "docker.io/bitnami/redis:latest", "registry-1.docker.io", "latest"),
        ("docker.io/alpine", "docker.io/library/alpine:latest", "registry-1.docker.io", "latest"),
        ("index.docker.io/library/alpine", "docker.io/library/alpine:latest", "registry-1.docker.io", "latest"),
        ("daocloud.io/busybox", "daocloud.io/busybox:latest", "daocloud.io", "latest"),
        ("hub.pulltrace.test:5000/ns/name:tag", "hub.pulltrace.test:5000/ns/name:tag", "hub.pulltrace.test:5000", "tag"),
        ("localhost/x", "localhost/x:latest", "localhost", "latest"),
        ("localhost:5000/x", "localhost:5000/x:latest", "localhost:5000", "latest"),
        (f"alpine@{DIGEST}", f"docker.io/library/alpine@{DIGEST}", "registry-1.docker.io", DIGEST),
        (f"quay.io/a/b:v1@{DIGEST}", f"quay.io/a/b:v1@{DIGEST}", "quay.io", DIGEST),
        ("gcr.io/google-containers/kube-controller-manager:v1.10.0",
         "gcr.io/google-containers/kube-controller-manager:v1.10.0", "gcr.io", "v1.10.0"),
    ],
)
def test_normalises_like_docker(text, full, host, reference):
    ref = parse_reference(text)
    assert str(ref) == full
    assert ref.registry_host == host
    assert ref.reference == reference


def test_familiar_form_drops_the_hub_defaults():
    assert parse_reference("docker.io/library/alpine").familiar == "alpine:latest"
    assert parse_reference("quay.io/a/b:1").familiar == "quay.io/a/b:1"


def test_pinned_digest_keeps_tag_for_display_but_fetches_by_digest():
    ref = parse_reference(f"busybox:1.36@{DIGEST}")
    assert ref.tag == "1.36"
    assert ref.digest == DIGEST
    assert ref.reference == DIGEST


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        (" alpine", "spaces"),
        ("Alpine", "lowercase"),
        ("alpine:", "bad tag"),
        ("alpine:-x", "bad tag"),
        ("alpine@sha256:abc", "64 lowercase hex"),
        ("alpine@md5", "bad digest"),
        ("a//b", "may hold only"),
        ("host.io/", "no repository"),
        ("host.io/UPPER", "lowercase"),
        ("bad_host!.io/x", "bad registry host"),
        ("x/" + "a" * 260, "longer than"),
    ],
)
def test_invalid_references_say_why(text, why):
    with pytest.raises(ReferenceError) as e:
        parse_reference(text)
    assert why in str(e.value)
    assert "\n" not in str(e.value)
