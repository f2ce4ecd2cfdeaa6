"""pulltrace's worker process: the recorder away from mitmproxy's process.

    python -m pulltrace.capture.worker        (the addon starts it; it speaks frames on stdin/stdout)

The proxy's event loop and any thread of the addon share one interpreter lock, so work on
the recorder's thread (classifying, grouping, diagnosing, rendering each pull's table,
writing pulltrace.jsonl) delays the proxy's requests even though the loop never waits
for it. Here that work runs on another core; the addon's process only turns flows into
Exchanges and sends them over, in batches; they are masked here, on arrival.

In:  ("start", Settings, started_at, tick_s, forward_sessions) first, then
     ("exchanges", [Exchange, ...]), ("settings", Settings, forward_sessions), ("save",),
     ("flush", token), ("stop",)
Out: ("ready", pid) first, then ("log", level, text), ("names", number, [FlowName, ...]),
     ("session", Session, number) when the addon exports pulls (metrics, OTLP),
     ("flushed", token), and last ("done", stats, pulls_closed, [written paths]).

It runs at a lower CPU priority (nice +10): nobody waits for it, so on a machine whose
cores are all busy the proxy and its clients come first and the tables and pulltrace.jsonl
lag behind (the addon's queues are bounded: past 100,000 waiting exchanges it drops, and
says so, rather than slow the proxy).

It ignores SIGINT and SIGTERM (a Ctrl-C or a service stop reaches the whole process
group; the addon's shutdown tells this process to finish); if the addon's process dies,
stdin ends and this process closes every open pull and writes its outputs as on a stop.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import signal
import sys
from typing import Any

from pulltrace.capture.frames import FrameWriter, read_frame
from pulltrace.capture.outputs import PullOutputs, Settings, configure_recorder
from pulltrace.capture.recorder import Recorder, RecorderThread
from pulltrace.engine import Engine
from pulltrace.model import Session
from pulltrace.redact import finish_exchange


class _FrameLog(logging.Handler):
    """pulltrace's log records go to the addon, which logs them in mitmproxy's own log."""

    def __init__(self, out: FrameWriter) -> None:
        super().__init__()
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.out.send(("log", record.levelno, self.format(record)))
        except Exception:  # noqa: BLE001 - the addon is gone: nobody to tell
            pass


class Worker:
    """One capture's recorder, fed by the addon's messages."""

    def __init__(self, out: FrameWriter, settings: Settings, *, started_at: float, tick_s: float,
                 forward_sessions: bool) -> None:
        self.out = out
        self.forward_sessions = forward_sessions
        self.outputs = PullOutputs(settings, started_at=started_at,
                                   names=lambda names, number: out.send(("names", number, names)))
        self.recorder = Recorder(Engine(idle_s=settings.idle_s), [self.outputs, self._forward])
        self.recorder.node = settings.node
        self.thread = RecorderThread(self.recorder, tick_s=tick_s)

    def _forward(self, session: Session, number: int) -> None:
        if self.forward_sessions:
            self.out.send(("session", session, number))

    def _configure(self, settings: Settings, forward_sessions: bool) -> None:
        configure_recorder(self.recorder, self.outputs, settings)
        self.forward_sessions = forward_sessions

    def handle(self, message: tuple[Any, ...]) -> bool:
        """One message from the addon; False once it said stop."""
        kind = message[0]
        if kind == "exchanges":
            # The addon sends exchanges raw: claims, prints and masking happen here.
            show_secrets = self.outputs.settings.show_secrets
            for ex in message[1]:
                self.thread.submit(finish_exchange(ex, show_secrets=show_secrets))
        elif kind == "settings":
            self.thread.call(functools.partial(self._configure, message[1], message[2]))
        elif kind == "save":
            self.thread.call(self.outputs.save)
        elif kind == "flush":
            self.thread.call(functools.partial(self.out.send, ("flushed", message[1])))
        elif kind == "stop":
            return False
        return True

    def finish(self) -> None:
        """Every open pull closed and handed out, pulltrace.jsonl closed, the reports written."""
        self.thread.stop()
        written = self.outputs.close()
        stats = dataclasses.asdict(self.thread.stats)
        self.out.send(("done", stats, self.recorder.closed, [str(p) for p in written]))


# How much lower than the proxy's the worker's CPU priority is (see the module's docstring).
NICE = 10


def main() -> int:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    try:
        os.nice(NICE)
    except OSError:
        pass  # a priority this process may not change: it runs as it is
    inp = sys.stdin.buffer
    out = FrameWriter(sys.stdout.buffer)
    sys.stdout = sys.stderr  # a stray print must not land inside a frame
    log = logging.getLogger("pulltrace")
    log.handlers[:] = [_FrameLog(out)]
    log.setLevel(logging.INFO)
    log.propagate = False
    out.send(("ready", os.getpid()))
    start = read_frame(inp)
    if start is None or start[0] != "start":
        return 2
    _, settings, started_at, tick_s, forward_sessions = start
    worker = Worker(out, settings, started_at=started_at, tick_s=tick_s, forward_sessions=forward_sessions)
    while (message := read_frame(inp)) is not None and worker.handle(message):
        pass
    try:
        worker.finish()
    except BrokenPipeError:
        pass  # the addon's process is gone; pulltrace.jsonl and the reports are written all the same
    return 0


if __name__ == "__main__":
    sys.exit(main())
