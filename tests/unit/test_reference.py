import pytest

from pulltrace.errors import UserError
from pulltrace.reference import InvalidReference, ReferenceError, parse_reference

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
        ("hub.pulltrace.test:5000/ns/name:tag", "hub.pulltrace.test:5000/ns/name:tag",
         "hub.pulltrace.test:5000", "tag"),
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
    with pytest.raises(InvalidReference) as e:
        parse_reference(text)
    assert why in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("alpine\n", "spaces"),
        ("alpine:1\n@" + DIGEST, "bad tag"),
        ("alpine:t\u00e9", "bad tag 'té'"),  # Go's \w, as docker's grammar, is ASCII
        ("host:abc/x", "bad registry host 'host:abc'"),
        ("[::1/x", "bad registry host '[::1'"),
        ("user:pw@host/x", "bad digest 'host/x'"),
        ("a\x1b[2jb", "may hold only"),
        ("a" * 5000, "longer than 520 characters"),
    ],
)
def test_hostile_references_are_refused_in_one_line(text, why):
    with pytest.raises(InvalidReference) as e:
        parse_reference(text)
    message = str(e.value)
    assert why in message
    assert "\n" not in message and "\x1b" not in message
    assert len(message) < 300


def test_invalid_reference_is_the_user_error_and_the_old_name_an_alias():
    assert ReferenceError is InvalidReference
    assert issubclass(InvalidReference, UserError) and issubclass(InvalidReference, ValueError)


def test_ipv6_registry_with_port():
    ref = parse_reference("[::1]:5000/team/app:1")
    assert (ref.domain, ref.repository, ref.tag) == ("[::1]:5000", "team/app", "1")
