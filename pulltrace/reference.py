"""Image references, normalised the way docker normalises them.

`alpine` is `docker.io/library/alpine:latest`, fetched from `registry-1.docker.io`;
the first path component is a registry only when it looks like a host (has a `.`
or a `:`, or is `localhost`), exactly as distribution's reference package decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pulltrace.errors import UserError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
DEFAULT_TAG = "latest"

# Grammar from distribution/reference (regexp.go), used with fullmatch (`$` would let a
# trailing newline through) and ASCII classes (Go's \w is ASCII; Python's is Unicode).
# Each repetition starts with a character the one before cannot match (a separator after
# alphanumerics, a `.` after a label), so a failing match backtracks a bounded amount per
# character: linear. Input longer than _MAX_INPUT is refused before any regex runs.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)
_TAG_RE = re.compile(r"\w[\w.-]{0,127}", re.ASCII)
_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}", re.ASCII)
_SHA256_RE = re.compile(r"sha256:[a-f0-9]{64}", re.ASCII)
_HOST_RE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?",
    re.ASCII,
)
_MAX_NAME = 255
# name (255) + ":" + tag (128) + "@" + the longest registered digest (sha512: 7 + 128).
_MAX_INPUT = 255 + 1 + 128 + 1 + 135


class InvalidReference(UserError, ValueError):
    """An image reference docker would refuse; the message says why, in one line."""


# The old name, which shadowed the builtin; kept for one release for importers elsewhere.
ReferenceError = InvalidReference


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


def _shown(text: str) -> str:
    """The reference as quoted in a message: repr (control bytes escaped), bounded."""
    return repr(text) if len(text) <= 100 else repr(text[:100]) + "…"


def parse_reference(text: str) -> ImageReference:
    """Parse and normalise `text` like `docker pull` does, or raise InvalidReference."""
    if not isinstance(text, str):
        raise InvalidReference(f"invalid image reference: expected text, got {type(text).__name__}")
    original = _shown(text)
    if not text or text != text.strip():
        raise InvalidReference(f"invalid image reference {original}: empty or surrounded by spaces")
    if len(text) > _MAX_INPUT:
        raise InvalidReference(f"invalid image reference {original}: longer than {_MAX_INPUT} characters")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if digest.startswith("sha256:") and not _SHA256_RE.fullmatch(digest):
            raise InvalidReference(
                f"invalid image reference {original}: a sha256 digest is 64 lowercase hex characters"
            )
        if not _DIGEST_RE.fullmatch(digest):
            raise InvalidReference(f"invalid image reference {original}: bad digest {_shown(digest)}")
    domain, remainder = _split_domain(text)
    tag = None
    last = remainder.rsplit("/", 1)[-1]
    if ":" in last:
        remainder, tag = remainder.rsplit(":", 1)
        if not _TAG_RE.fullmatch(tag):
            raise InvalidReference(f"invalid image reference {original}: bad tag {_shown(tag)}")
    if not remainder:
        raise InvalidReference(f"invalid image reference {original}: no repository name")
    if remainder != remainder.lower():
        raise InvalidReference(
            f"invalid image reference {original}: repository name must be lowercase"
        )
    if not _NAME_RE.fullmatch(remainder):
        raise InvalidReference(
            f"invalid image reference {original}: repository name {_shown(remainder)} may hold only "
            "lowercase letters, digits and separators (. _ __ -) between / components"
        )
    if domain == DOCKER_HUB and "/" not in remainder:
        remainder = f"library/{remainder}"
    if len(domain) + 1 + len(remainder) > _MAX_NAME:
        raise InvalidReference(f"invalid image reference {original}: name longer than {_MAX_NAME}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return ImageReference(domain=domain, repository=remainder, tag=tag, digest=digest)


def _split_domain(text: str) -> tuple[str, str]:
    first, sep, rest = text.partition("/")
    looks_like_host = sep and ("." in first or ":" in first or first == "localhost" or first != first.lower())
    if not looks_like_host:
        return DOCKER_HUB, text
    if not _HOST_RE.fullmatch(first):
        raise InvalidReference(f"invalid image reference {_shown(text)}: bad registry host {_shown(first)}")
    if first == "index.docker.io":
        first = DOCKER_HUB
    return first, rest
