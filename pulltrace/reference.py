"""Image references, normalised the way docker normalises them.

`alpine` is `docker.io/library/alpine:latest`, fetched from `registry-1.docker.io`;
the first path component is a registry only when it looks like a host (has a `.`
or a `:`, or is `localhost`), exactly as distribution's reference package decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
DEFAULT_TAG = "latest"

# Grammar from distribution/reference (regexp.go).
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$"
)
_MAX_NAME = 255


class ReferenceError(ValueError):
    """An image reference docker would refuse; the message says why."""


@dataclass(frozen=True)
class ImageReference:
    """A parsed, normalised image reference."""

    domain: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def registry_host(self) -> str:
        """The host to talk to: Docker Hub's API lives on registry-1.docker.io."""
        return DOCKER_HUB_API_HOST if self.domain == DOCKER_HUB else self.domain

    @property
    def reference(self) -> str:
        """What goes after /manifests/: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.repository}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def familiar(self) -> str:
        """The short form docker prints: `alpine:latest`, `team/app:1`."""
        name = self.name
        if self.domain == DOCKER_HUB:
            name = self.repository.removeprefix("library/")
        text = name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> ImageReference:
    """Parse and normalise `text` like `docker pull` does, or raise ReferenceError."""
    original = text
    if not text or text != text.strip():
        raise ReferenceError(f"invalid image reference {original!r}: empty or surrounded by spaces")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if digest.startswith("sha256:") and not _SHA256_RE.match(digest):
            raise ReferenceError(
                f"invalid image reference {original!r}: a sha256 digest is 64 lowercase hex characters"
            )
        if not _DIGEST_RE.match(digest):
            raise ReferenceError(f"invalid image reference {original!r}: bad digest {digest!r}")
    domain, remainder = _split_domain(text)
    tag = None
    last = remainder.rsplit("/", 1)[-1]
    if ":" in last:
        remainder, tag = remainder.rsplit(":", 1)
        if not _TAG_RE.match(tag):
            raise ReferenceError(f"invalid image reference {original!r}: bad tag {tag!r}")
    if not remainder:
        raise ReferenceError(f"invalid image reference {original!r}: no repository name")
    if remainder != remainder.lower():
        raise ReferenceError(
            f"invalid image reference {original!r}: repository name must be lowercase"
        )
    if not _NAME_RE.match(remainder):
        raise ReferenceError(
            f"invalid image reference {original!r}: repository name {remainder!r} may hold only "
            "lowercase letters, digits and separators (. _ __ -) between / components"
        )
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    if len(domain) + 1 + len(remainder) > _MAX_NAME:
        raise ReferenceError(f"invalid image reference {original!r}: name longer than {_MAX_NAME}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(domain=domain, repository=remainder, tag=tag, digest=digest)


def _split_domain(text: str) -> tuple[str, str]:
    first, sep, rest = text.partition("/")
    looks_like_host = sep and ("." in first or ":" in first or first == "localhost" or first != first.lower())
    if not looks_like_host:
        return DOCKER_HUB, text
    if not _HOST_RE.match(first):
        raise ReferenceError(f"invalid image reference {text!r}: bad registry host {first!r}")
    if first == "index.docker.io":
        first = DOCKER_HUB
    return first, rest
