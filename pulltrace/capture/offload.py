"""The addon's side of the worker process (capture/worker): start it, feed it, hear back.

`WorkerProcess` has the interface of `RecorderThread` (submit, flush, stop, stats), so the
addon does not care where its recorder runs. On mitmproxy's event loop `submit` is one
append to a deque. A sender thread takes the deque ten times a second, waits for blob
hashes still finishing, and writes one pickled batch to the worker; a reader thread logs
the worker's lines (the console tables), hands flow names and exported pulls back.

If the worker cannot start (a mitmproxy whose interpreter cannot run `-m`, as a frozen
binary) or dies, recording goes on in the proxy's own process: the sender hands what is
still queued to an in-process RecorderThread, numbering goes on and pulltrace.jsonl is
continued, not begun again. Pulls open in the worker when it died are lost, and said so.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulltrace
from pulltrace.capture.frames import FrameWriter, read_frame
from pulltrace.capture.names import FlowName
from pulltrace.capture.outputs import PullOutputs, Settings, configure_recorder
from pulltrace.capture.recorder import DRAIN_S, Backlog, Digest, RecorderThread, Stats
from pulltrace.model import Exchange, Session
from pulltrace.redact import finish_exchange

log = logging.getLogger("pulltrace")

# How long the worker may take to import pulltrace and say it is ready.
START_TIMEOUT_S = 30.0

NamesCallback = Callable[[list[FlowName], int], None]
SessionCallback = Callable[[Session, int], None]
# Builds the in-process recorder that takes over: given the number of the last pull handed out.
Fallback = Callable[[int], tuple[RecorderThread, PullOutputs]]

_STOP = ("stop",)


def worker_command() -> tuple[list[str], dict[str, str]]:
    """The worker's argv and environment: this interpreter, this very pulltrace package."""
    root = str(Path(pulltrace.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return [sys.executable, "-m", "pulltrace.capture.worker"], env


class WorkerProcess:
    """Runs the recorder in pulltrace's worker process; `submit` never blocks the caller."""

    def __init__(self, settings: Settings, *, started_at: float, tick_s: float, forward_sessions: bool,
                 on_names: NamesCallback, on_session: SessionCallback, fallback: Fallback,
                 max_backlog: int = 100_000, drain_s: float = DRAIN_S,
                 command: tuple[list[str], dict[str, str]] | None = None) -> None:
        self.start_message = ("start", settings, started_at, tick_s, forward_sessions)
        # Exchanges arrive raw (the worker masks them): what the fallback must do itself.
        self.show_secrets = settings.show_secrets
        self.on_names = on_names
        self.on_session = on_session
        self.make_fallback = fallback
        self.drain_s = drain_s
        self.command = command
        self.queue = Backlog(max_backlog)
        self.stats = Stats()
        self.pulls_closed = 0
        self.written: list[Path] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.fallback: RecorderThread | None = None
        self.fallback_outputs: PullOutputs | None = None
        self._sender: threading.Thread | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._answered = threading.Event()  # ready, or ended without a word
        self._ended = threading.Event()  # the worker's stdout closed (done, or died)
        self._done = threading.Event()  # everything handled and written, by the worker or the fallback
        self._flushes: dict[int, threading.Event] = {}
        self._flush_tokens = 0
        self._child_stats: dict[str, Any] = {}

    # -- the event loop's side --------------------------------------------------------
    def submit(self, ex: Exchange, hasher: Digest | None = None) -> bool:
        """Queue one exchange; False (and counted) if the worker is this far behind."""
        self._ensure_started()
        return self.queue.offer(("exchange", ex, hasher, time.monotonic()), self.stats)

    def send(self, message: tuple[Any, ...]) -> None:
        """A message for the worker (new settings, save), after everything queued before it."""
        self._ensure_started()
        if message[0] == "settings":
            self.show_secrets = message[1].show_secrets
        self.queue.items.append(("message", message))
        self._wake.set()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued so far is handled (tests, the save command)."""
        self._ensure_started()
        done = threading.Event()
        self.queue.items.append(("flush", done))
        self._wake.set()
        return done.wait(timeout)

    def stop(self, timeout: float = 3600.0) -> bool:
        """Handle what is queued, close every open pull, write the outputs, end the worker.

        The reports of a capture of days take a while: this waits as long as the worker lives
        (up to `timeout`), not a fixed short time that would cut them off."""
        if self._sender is None:
            return True  # nothing was ever captured
        self.queue.items.append(("message", _STOP))
        self._wake.set()
        deadline = time.monotonic() + timeout
        while not self._done.wait(1.0):
            if time.monotonic() >= deadline or not self._sender.is_alive():
                break  # out of time, or the sender failed (logged): nobody will finish
        if self.proc is not None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self._done.is_set()

    def merged_stats(self) -> Stats:
        """What the worker and this side did, as one Stats for the addon's shutdown line."""
        child = self._child_stats
        stats = Stats(exchanges=child.get("exchanges", 0), dropped=self.stats.dropped + child.get("dropped", 0),
                      max_backlog=max(self.stats.max_backlog, child.get("max_backlog", 0)),
                      max_lag_s=self.stats.max_lag_s + child.get("max_lag_s", 0.0))
        if self.fallback is not None:
            stats.exchanges += self.fallback.stats.exchanges
            stats.dropped += self.fallback.stats.dropped
        return stats

    # -- starting ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker now (as the proxy starts), so the first pull does not wait for its imports."""
        self._ensure_started()

    def _ensure_started(self) -> None:
        if self._sender is None:
            with self._lock:
                if self._sender is None:
                    self._sender = threading.Thread(target=self._send_loop, name="pulltrace-sender", daemon=True)
                    self._sender.start()

    def _spawn(self) -> FrameWriter | None:
        argv, env = self.command or worker_command()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                         start_new_session=True)  # a Ctrl-C is the addon's to handle
        except OSError as e:
            self._lose(f"could not start ({e})")
            return None
        assert self.proc.stdin is not None
        threading.Thread(target=self._read_loop, name="pulltrace-reader", daemon=True).start()
        writer = FrameWriter(self.proc.stdin)
        if not self._answered.wait(START_TIMEOUT_S) or not self._ready.is_set():
            self._lose("did not start")
            return None
        try:
            writer.send(self.start_message)
        except OSError:
            self._lose("ended as it started")
            return None
        return writer

    # -- the sender thread ------------------------------------------------------------
    def _send_loop(self) -> None:
        try:
            self._send_all()
        except Exception:  # noqa: BLE001 - said once; the proxy goes on, the capture's end is lost
            log.exception("pulltrace: the sender to its worker process failed; the rest of the capture is not recorded")

    def _send_all(self) -> None:
        writer = self._spawn()
        items = self.queue.items
        while True:
            self._wake.wait(self.drain_s)
            self._wake.clear()
            if writer is not None and self._ended.is_set() and not self._done.is_set():
                writer = None
                self._lose(f"ended (exit code {self._exit_code()})")
            batch: list[Exchange] = []
            while items:
                item = items.popleft()
                if writer is None:
                    if self._hand_to_fallback(item):
                        return
                    continue
                if item[0] == "exchange":
                    batch.append(self._resolved(item))
                    continue
                writer = self._send(writer, batch, item)
                batch = []
                if writer is not None and item == ("message", _STOP):
                    self._ended.wait()  # the worker exits after its "done"
                    if self._done.is_set():
                        return
                    self._lose(f"ended before it finished (exit code {self._exit_code()})")
                    self._hand_to_fallback(item)
                    return
                if writer is None and self._hand_to_fallback(item):
                    return
            if batch and writer is not None:
                writer = self._send(writer, batch, None)

    def _resolved(self, item: tuple[Any, ...]) -> Exchange:
        _, ex, hasher, queued = item
        if hasher is not None:
            # The blob's last chunks may still be hashing on the hash thread: wait here, not on the loop.
            ex.body_sha256 = hasher.digest()
        self.stats.max_backlog = max(self.stats.max_backlog, len(self.queue.items) + 1)
        self.stats.max_lag_s = max(self.stats.max_lag_s, time.monotonic() - queued)
        return ex

    def _send(self, writer: FrameWriter, batch: list[Exchange], item: tuple[Any, ...] | None) -> FrameWriter | None:
        """The batch, then one queued control item; None once the worker is gone (then the
        batch and the item are the fallback's)."""
        try:
            if batch:
                writer.send(("exchanges", batch))
            if item is None:
                return writer
            if item[0] == "flush":
                with self._lock:
                    self._flush_tokens += 1
                    token = self._flush_tokens
                    self._flushes[token] = item[1]
                writer.send(("flush", token))
            else:
                writer.send(item[1])
            return writer
        except OSError:
            self._lose(f"stopped reading (exit code {self._exit_code()})")
            assert self.fallback is not None
            for ex in batch:
                self.fallback.submit(finish_exchange(ex, show_secrets=self.show_secrets))
            return None
        except Exception:  # noqa: BLE001 - a message that cannot be pickled: nothing of it was written
            log.exception("pulltrace: could not send %d exchanges to its worker process; they are not recorded",
                          len(batch))
            return writer

    def _exit_code(self) -> str:
        if self.proc is None:
            return "none"
        try:
            return str(self.proc.wait(2))
        except subprocess.TimeoutExpired:
            return "none yet"

    def _hand_to_fallback(self, item: tuple[Any, ...]) -> bool:
        """One queued item, done in the proxy's process; True at the stop."""
        fallback, outputs = self.fallback, self.fallback_outputs
        assert fallback is not None and outputs is not None
        kind = item[0]
        if kind == "exchange":
            _, ex, hasher, _queued = item
            fallback.submit(finish_exchange(ex, show_secrets=self.show_secrets), hasher)
        elif kind == "flush":
            fallback.call(item[1].set)
        elif item[1] == _STOP:
            fallback.stop()
            self.pulls_closed = fallback.recorder.closed
            self.written = outputs.close()
            self._done.set()
            return True
        elif item[1][0] == "settings":
            _, settings, _forward = item[1]
            fallback.call(lambda: configure_recorder(fallback.recorder, outputs, settings))
        elif item[1][0] == "save":
            fallback.call(outputs.save)
        return False

    def _lose(self, how: str) -> None:
        """The worker is gone: from here on the proxy's process records."""
        if self.fallback is not None:
            return
        log.warning("pulltrace: its worker process %s; recording goes on in the proxy's process%s", how,
                    " (the pulls open in the worker are lost)" if self._ready.is_set() else "")
        self.fallback, self.fallback_outputs = self.make_fallback(self.pulls_closed)
        for event in self._flushes.values():
            event.set()  # what it acknowledged no more will be handled: nobody waits for it
        self._flushes.clear()

    # -- the reader thread ------------------------------------------------------------
    def _read_loop(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        stream = self.proc.stdout
        try:
            while (message := read_frame(stream)) is not None:
                self._heard(message)
        except Exception:  # noqa: BLE001 - a garbled frame: treat the worker as gone
            log.exception("pulltrace: could not read its worker process")
        finally:
            self._ended.set()
            self._answered.set()
            self._wake.set()

    def _heard(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "log":
            log.log(message[1], "%s", message[2])
        elif kind == "names":
            self.pulls_closed = max(self.pulls_closed, message[1])
            self.on_names(message[2], message[1])
        elif kind == "session":
            self.on_session(message[1], message[2])
        elif kind == "flushed":
            with self._lock:
                event = self._flushes.pop(message[1], None)
            if event is not None:
                event.set()
        elif kind == "ready":
            self._ready.set()
            self._answered.set()
        elif kind == "done":
            self._child_stats, self.pulls_closed = message[1], message[2]
            self.written = [Path(p) for p in message[3]]
            self._done.set()

