"""A content-addressed blob store: `<root>/sha256/<hex>`, filled only with verified bytes.

A download in progress is `<hex>.partial` beside it, kept after a failure so the next
attempt (or the next run) can resume it with a Range request.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pulltrace.client.digests import check_digest


def default_cache_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return Path(base) / "pulltrace" / "blobs"


def digest_hex(digest: str) -> str:
    """The file name of a blob: its digest's hex, never a path (checked again here, as the
    last place before a digest touches the file system)."""
    return check_digest(digest, "a blob").split(":", 1)[1]


class BlobCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        (self.root / "sha256").mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / "sha256" / digest_hex(digest)

    def partial_path(self, digest: str) -> Path:
        return self.root / "sha256" / f"{digest_hex(digest)}.partial"

    def has(self, digest: str, size: int | None = None) -> bool:
        try:
            st = self.path(digest).stat()
        except FileNotFoundError:
            return False
        return size is None or size < 0 or st.st_size == size

    @contextmanager
    def partial(self, digest: str) -> Iterator[BinaryIO]:
        """The partial file, locked against another pulltrace filling the same blob."""
        with open(self.partial_path(digest), "ab+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield f
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def commit(self, digest: str) -> Path:
        """Move a verified partial into place."""
        target = self.path(digest)
        os.replace(self.partial_path(digest), target)
        return target

    def discard(self, digest: str) -> None:
        self.partial_path(digest).unlink(missing_ok=True)

    def evict(self, digest: str) -> None:
        """Remove a cached blob found corrupt, so the next pull fetches it again."""
        self.path(digest).unlink(missing_ok=True)
