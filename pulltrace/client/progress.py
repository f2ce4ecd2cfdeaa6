"""Progress on a terminal: one bar per blob and one for the total (tqdm), or nothing.

Silent when stderr is not a TTY or with -q, so scripts and logs get only the summary line.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from pulltrace.client.download import BlobJob


class Progress(Protocol):
    def started(self, job: BlobJob, offset: int) -> None: ...
    def advance(self, job: BlobJob, n: int) -> None: ...
    def finished(self, job: BlobJob) -> None: ...
    def skipped(self, job: BlobJob) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    def started(self, job: BlobJob, offset: int) -> None:
        pass

    def advance(self, job: BlobJob, n: int) -> None:
        pass

    def finished(self, job: BlobJob) -> None:
        pass

    def skipped(self, job: BlobJob) -> None:
        pass

    def close(self) -> None:
        pass


class BarProgress:
    """tqdm bars: `total` first, then one per blob as it starts."""

    def __init__(self, total_bytes: int, stream: TextIO = sys.stderr) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._stream = stream
        self._lock = threading.Lock()
        self._bars: dict[str, Any] = {}  # tqdm bars (tqdm ships no type hints)
        self._next = 1
        self._total = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024,
                           desc="total", position=0, file=stream, leave=True, dynamic_ncols=True)

    def _bar(self, job: BlobJob):
        with self._lock:
            bar = self._bars.get(job.digest)
            if bar is None:
                label = f"{job.role} {job.digest[7:19]}"
                bar = self._tqdm(total=job.size if job.size >= 0 else None, unit="B", unit_scale=True,
                                 unit_divisor=1024, desc=label, position=self._next, file=self._stream,
                                 leave=False, dynamic_ncols=True)
                self._next += 1
                self._bars[job.digest] = bar
            return bar

    def started(self, job: BlobJob, offset: int) -> None:
        bar = self._bar(job)
        with self._lock:
            delta = offset - bar.n
            bar.n = offset
            bar.refresh()
            self._total.update(delta)

    def advance(self, job: BlobJob, n: int) -> None:
        bar = self._bar(job)
        with self._lock:
            bar.update(n)
            self._total.update(n)

    def finished(self, job: BlobJob) -> None:
        with self._lock:
            bar = self._bars.get(job.digest)
            if bar is not None:
                bar.close()

    def skipped(self, job: BlobJob) -> None:
        with self._lock:
            self._total.update(max(job.size, 0))
            self._total.write(f"{job.role} {job.digest[7:19]}: already in the cache", file=self._stream)

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._total.close()


def make_progress(total_bytes: int, quiet: bool, stream: TextIO = sys.stderr) -> Progress:
    if quiet or not getattr(stream, "isatty", lambda: False)():
        return NullProgress()
    return BarProgress(total_bytes, stream)
