"""Blob downloads: concurrent, streamed to disk, verified on the fly, resumed, retried.

Each blob is written to the cache's `.partial` file while its sha256 is computed over the
same bytes; only a blob whose hash equals its digest is moved into the cache. A broken
connection keeps what arrived and the next attempt asks for the rest with `Range` (the lab's
nginx CDN and distribution both answer 206); a server that ignores Range (200) restarts it.
A resumed blob that does not verify — a partial file damaged on disk, or garbage answered to
a Range request — is fetched once more from the first byte before it is refused.

Download threads are daemons, so a Ctrl-C ends the process at once even while one of them
is blocked on a stalled socket; on a stop the transport shuts the sockets of every body
still streaming, so the threads also return at once when pulltrace runs in-process.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from pulltrace.client.cache import BlobCache
from pulltrace.client.errors import ConnectionFailed, DigestMismatch, PullError, RegistryError, TLSFailure
from pulltrace.client.progress import NullProgress, Progress
from pulltrace.client.registry import RegistryClient
from pulltrace.client.retry import RETRY_STATUSES, RetryPolicy, Sleeper, retry_after

DEFAULT_JOBS = 3  # dockerd's max-concurrent-downloads
_CONTENT_RANGE_RE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class Cancelled(PullError):
    """Another download failed, or the user pressed Ctrl-C."""


class _Transient(Exception):
    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


@dataclass(frozen=True)
class BlobJob:
    digest: str
    size: int
    media_type: str = ""
    role: str = "layer"  # "config" or "layer"


@dataclass
class BlobOutcome:
    job: BlobJob
    fetched: bool
    bytes_fetched: int = 0
    attempts: int = 0
    resumed_at: list[int] = field(default_factory=list)
    # Resumed bytes did not verify and the blob was fetched again from byte 0.
    restarted: bool = False


class Downloader:
    def __init__(self, registry: RegistryClient, cache: BlobCache, *, progress: Progress | None = None,
                 policy: RetryPolicy | None = None, stop: threading.Event | None = None) -> None:
        self.registry = registry
        self.cache = cache
        self.progress = progress or NullProgress()
        self.policy = policy or RetryPolicy()
        self.stop = stop or threading.Event()
        self.sleep = Sleeper(self.stop)

    def fetch(self, job: BlobJob) -> BlobOutcome:
        """Make sure `job`'s blob is in the cache, fetching only what is missing."""
        if self.cache.has(job.digest, job.size):
            self.progress.skipped(job)
            return BlobOutcome(job, fetched=False)
        with self.cache.partial(job.digest) as f:
            if self.cache.has(job.digest, job.size):  # another pulltrace finished it meanwhile
                self.cache.discard(job.digest)
                self.progress.skipped(job)
                return BlobOutcome(job, fetched=False)
            outcome = self._fill(job, f)
            self.cache.commit(job.digest)
        self.progress.finished(job)
        return outcome

    def _fill(self, job: BlobJob, f: BinaryIO) -> BlobOutcome:
        outcome = BlobOutcome(job, fetched=True)
        while True:
            hasher, offset = self._download(job, f, outcome)
            actual = "sha256:" + hasher.hexdigest()
            if actual == job.digest and (job.size < 0 or offset == job.size):
                f.flush()
                return outcome
            f.truncate(0)
            if outcome.resumed_at and not outcome.restarted:
                # The bytes resumed onto (an earlier run's partial, or a 206) were not the
                # blob's: start again from the first byte rather than refuse or keep them.
                outcome.restarted = True
                outcome.resumed_at.clear()
                self.progress.started(job, 0)
                continue
            self.cache.discard(job.digest)
            raise DigestMismatch(
                f"blob {job.digest} arrived corrupt: {offset} bytes hashing to {actual}"
                f"{f', expected {job.size} bytes' if job.size >= 0 else ''}; nothing was written — retry, "
                "and if it persists suspect a proxy or the registry's storage")

    def _download(self, job: BlobJob, f: BinaryIO, outcome: BlobOutcome) -> tuple:
        """Fill the partial file to the end, resuming after broken connections; (hasher, length)."""
        hasher, offset = _rehash(f)
        if job.size >= 0 and offset > job.size:
            f.truncate(0)
            hasher, offset = hashlib.sha256(), 0
        self.progress.started(job, offset)
        attempts = 0
        while True:
            attempts += 1
            outcome.attempts += 1
            if offset:
                outcome.resumed_at.append(offset)
            try:
                hasher, offset, got = self._attempt(job, f, hasher, offset)
                outcome.bytes_fetched += got
                return hasher, offset
            except (_Transient, ConnectionFailed) as e:
                if self.stop.is_set():
                    raise Cancelled("stopped") from None
                if isinstance(e, TLSFailure) or attempts >= self.policy.attempts:
                    if isinstance(e, _Transient):
                        raise RegistryError(f"blob {job.digest[:19]}…: {e} "
                                            f"(gave up after {attempts} attempts)") from None
                    raise
                wait = e.wait if isinstance(e, _Transient) and e.wait is not None else self.policy.delay(attempts)
                # Whatever arrived before the failure is on disk: resume after it.
                hasher, offset = _rehash(f)
                if not self.sleep(wait):
                    raise Cancelled("stopped") from None

    def _attempt(self, job: BlobJob, f: BinaryIO, hasher, offset: int) -> tuple:
        got = 0
        with self.registry.open_blob(job.digest, offset) as res:
            status = res.status
            if status == 206:
                m = _CONTENT_RANGE_RE.match(res.http.headers.get("content-range", ""))
                if not m or int(m.group(1)) != offset:
                    f.truncate(0)
                    self.progress.started(job, 0)
                    raise _Transient("server answered a Range request with another range; restarting", 0)
            elif status == 200:
                if offset:
                    # The server ignored Range: start again from the first byte.
                    f.truncate(0)
                    hasher, offset = hashlib.sha256(), 0
                    self.progress.started(job, 0)
            elif status == 416 and offset:
                f.truncate(0)
                hasher, offset = hashlib.sha256(), 0
                self.progress.started(job, 0)
                raise _Transient("range not satisfiable; restarting", 0)
            elif status in RETRY_STATUSES:
                wait = retry_after(res.http.headers.get("retry-after")) if status == 429 else None
                raise _Transient(f"{res.url.host} answered {status}", wait)
            else:
                raise self.registry.fail(res, f"blob {job.digest}")
            for chunk in self.registry.transport.iter_body(res):
                if self.stop.is_set():
                    raise Cancelled("stopped")
                f.write(chunk)
                hasher.update(chunk)
                offset += len(chunk)
                got += len(chunk)
                self.progress.advance(job, len(chunk))
                if job.size >= 0 and offset > job.size:
                    break
        if job.size >= 0 and offset < job.size:
            raise _Transient(f"body ended after {offset} of {job.size} bytes")
        return hasher, offset, got

    def fetch_all(self, jobs: Sequence[BlobJob], workers: int = DEFAULT_JOBS) -> list[BlobOutcome]:
        """Fetch every blob with up to `workers` at once; the first failure stops the rest."""
        unique = list({job.digest: job for job in jobs}.values())
        if not unique:
            return []
        pending = list(enumerate(unique))
        results: list[BlobOutcome | None] = [None] * len(unique)
        errors: list[BaseException] = []
        lock = threading.Lock()

        def work() -> None:
            while not self.stop.is_set():
                with lock:
                    if not pending:
                        return
                    i, job = pending.pop(0)
                try:
                    results[i] = self.fetch(job)
                except BaseException as e:  # noqa: BLE001 - handed to the caller's thread below
                    with lock:
                        errors.append(e)
                    self.stop.set()
                    self.registry.transport.abort()
                    return

        threads = [threading.Thread(target=work, name=f"pulltrace-blob-{n}", daemon=True)
                   for n in range(min(max(1, workers), len(unique)))]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:
            # Ctrl-C: the download threads are daemons and their sockets are shut; do not wait.
            self.stop.set()
            self.registry.transport.abort()
            raise
        if errors:
            # Report the cause, not the siblings it cancelled.
            raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])
        if self.stop.is_set():
            raise Cancelled("stopped")
        return [r for r in results if r is not None]


def _rehash(f: BinaryIO) -> tuple:
    """Hash what an earlier attempt left in the partial file; returns (hasher, length)."""
    hasher = hashlib.sha256()
    f.seek(0)
    length = 0
    while chunk := f.read(1024 * 1024):
        hasher.update(chunk)
        length += len(chunk)
    return hasher, length
