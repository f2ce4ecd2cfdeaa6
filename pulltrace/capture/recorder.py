"""Exchanges -> the engine -> finished pulls -> sinks, on a thread of its own.

The addon hands every exchange to `RecorderThread.submit` and returns to mitmproxy's
event loop at once; this thread feeds the engine, closes pulls that completed or went
quiet, and hands each finished session, numbered in the order it closed, to the sinks
(console table, pulltrace.jsonl, flow names). Nothing here keeps a closed pull: memory
follows the pulls in flight, not the length of the capture.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pulltrace.engine import Engine
from pulltrace.model import Exchange, Session, Step

log = logging.getLogger("pulltrace")

Sink = Callable[[Session, int], None]

# How often the thread takes what the event loop queued: nobody waits for it, and waking
# it for each exchange costs the loop a GIL hand-over each time.
DRAIN_S = 0.1


class Digest(Protocol):
    def digest(self, timeout: float = ...) -> str | None: ...


@dataclass
class Stats:
    """What the thread did; read by the addon's shutdown line and the long-run bench."""

    exchanges: int = 0
    dropped: int = 0
    max_backlog: int = 0
    max_lag_s: float = 0.0


class Recorder:
    """The single-threaded core: feed, close, number, hand out. Tests drive it directly."""

    def __init__(self, engine: Engine, sinks: Sequence[Sink], *, on_step: Callable[[Step], None] | None = None) -> None:
        self.engine = engine
        self.sinks = list(sinks)
        self.on_step = on_step
        self.closed = 0
        # The machine recording (pulltrace_node): every session handed out names it.
        self.node = ""

    def add(self, ex: Exchange) -> None:
        """One exchange, in completion order."""
        step = self.engine.feed(ex)
        if self.on_step is not None:
            self.on_step(step)

    def tick(self, now: float) -> list[Session]:
        """Close every pull that completed or went quiet by `now` and hand it to the sinks."""
        return self._hand_out(self.engine.close_idle(now))

    def finish(self) -> list[Session]:
        """End of the capture: every pull still open is closed and handed out."""
        return self._hand_out(self.engine.finish())

    def _hand_out(self, sessions: list[Session]) -> list[Session]:
        for session in sessions:
            self.closed += 1
            session.node = session.node or self.node
            for sink in self.sinks:
                try:
                    sink(session, self.closed)
                except Exception:  # noqa: BLE001 - one broken output must not stop the others
                    log.exception("pulltrace: an output failed on pull %d", self.closed)
        return sessions


_STOP = object()


class Backlog:
    """What waits for the recorder: appended on the event loop without a lock or a wake-up.

    A `queue.Queue` put takes a lock and signals a condition for every exchange, and each
    signal wakes the recorder's thread to take the GIL from the event loop for one item;
    a deque the thread drains a few times a second costs the loop one append.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.items: collections.deque[Any] = collections.deque()

    def qsize(self) -> int:
        return len(self.items)

    def offer(self, item: Any, stats: Stats) -> bool:
        """Append `item`, or, with `maxsize` items already waiting, count it dropped (warned
        once): the proxy goes on, a statistic is lost."""
        if len(self.items) >= self.maxsize:
            stats.dropped += 1
            if stats.dropped == 1:
                log.warning("pulltrace: %d exchanges waiting; dropping exchanges rather than slowing the proxy",
                            self.maxsize)
            return False
        self.items.append(item)
        return True


class RecorderThread:
    """Runs a Recorder off the event loop; `submit` never blocks the caller."""

    def __init__(self, recorder: Recorder, *, tick_s: float = 1.0, max_backlog: int = 100_000,
                 clock: Callable[[], float] = time.time, drain_s: float = DRAIN_S) -> None:
        self.recorder = recorder
        self.tick_s = tick_s
        self.drain_s = drain_s
        self.clock = clock
        self.queue = Backlog(max_backlog)
        self.stats = Stats()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="pulltrace-recorder", daemon=True)
                    self._thread.start()

    def submit(self, ex: Exchange, hasher: Digest | None = None) -> bool:
        """Queue one exchange; False (and counted) if the thread is this far behind."""
        self._ensure_started()
        return self.queue.offer(("exchange", ex, hasher, time.monotonic()), self.stats)

    def call(self, job: Callable[[], None]) -> threading.Event:
        """Run `job` on the recorder's thread after everything queued before it; set when done."""
        self._ensure_started()
        done = threading.Event()
        self.queue.items.append(("call", job, done))
        self._wake.set()
        return done

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is handled (tests, the save command)."""
        return self.call(lambda: None).wait(timeout)

    def stop(self, timeout: float = 120.0) -> bool:
        """Handle what is queued, close every open pull, and end the thread."""
        if self._thread is None:
            # Nothing was ever captured: close what the recorder may hold, on this thread.
            self.recorder.finish()
            return True
        self.queue.items.append(_STOP)
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        items = self.queue.items
        next_tick = time.monotonic() + self.tick_s
        while True:
            self._wake.wait(max(0.0, min(self.drain_s, next_tick - time.monotonic())))
            self._wake.clear()
            while items:
                item = items.popleft()
                if item is _STOP:
                    self._guard(self.recorder.finish)
                    return
                self._guard(functools.partial(self._handle, item))
            if time.monotonic() >= next_tick:
                self._guard(lambda: self.recorder.tick(self.clock()))
                next_tick = time.monotonic() + self.tick_s

    def _handle(self, item: tuple[Any, ...]) -> None:
        if item[0] == "call":
            _, job, done = item
            try:
                job()
            finally:
                done.set()
            return
        _, ex, hasher, queued = item
        self.stats.exchanges += 1
        self.stats.max_backlog = max(self.stats.max_backlog, len(self.queue.items) + 1)
        self.stats.max_lag_s = max(self.stats.max_lag_s, time.monotonic() - queued)
        if hasher is not None:
            # The blob's last chunks may still be hashing on the hash thread: wait here, not on the loop.
            ex.body_sha256 = hasher.digest()
        self.recorder.add(ex)

    @staticmethod
    def _guard(job: Callable[[], object]) -> None:
        try:
            job()
        except Exception:  # noqa: BLE001 - the thread must outlive one bad exchange
            log.exception("pulltrace: recording failed; the capture goes on")
