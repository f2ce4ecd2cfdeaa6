"""What a capture does with each finished pull: print its table, append it to pulltrace.jsonl,
name its flows; and the reports written when the capture ends, read back from that file.

One object for both places the recorder can run: the proxy's own process (a thread) and
pulltrace's worker process (capture/worker). Only the way names travel back to mitmproxy
differs, so it is a callable the caller passes in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pulltrace import __version__
from pulltrace.capture import jsonl
from pulltrace.capture.names import FlowName, flow_names
from pulltrace.model import Session, Trace
from pulltrace.redact import mask_value
from pulltrace.render.outputs import FORMATS, write_outputs
from pulltrace.render.text import render_text

if TYPE_CHECKING:
    from pulltrace.capture.recorder import Recorder

log = logging.getLogger("pulltrace")

CONSOLE = "console"
JSONL = "jsonl"
OUTPUT_CHOICES = (CONSOLE, JSONL, *FORMATS)

NameSink = Callable[[list[FlowName], int], None]


@dataclass
class Settings:
    """The options the recorder reads: a snapshot the event loop replaces whole."""

    directory: Path
    outputs: tuple[str, ...]
    idle_s: float
    show_secrets: bool = False
    node: str = ""
    jsonl_max_bytes: int | None = None


def log_written(written: list[Path]) -> None:
    """The one line that says which files a capture wrote."""
    if written:
        log.info("pulltrace: wrote %s", ", ".join(str(p) for p in written))


def configure_recorder(recorder: Recorder, outputs: PullOutputs, settings: Settings) -> None:
    """New options for a recorder and its outputs, from the thread that owns them."""
    outputs.settings = settings
    recorder.node = settings.node
    # The engine reads its idle window when it closes pulls.
    recorder.engine.idle_s = settings.idle_s


def numbered_table(session: Session, number: int) -> str:
    """The text table of one pull, headed with its number in the capture (as the reports number it)."""
    text = render_text(Trace(sessions=[session], tool_version=__version__))
    lines = text.split("\n")
    # render_text numbers the sessions of the trace it is given; this one is the number-th
    # pull of the capture. Its heading is "Session 1: …" over a rule of "=" of its width.
    for i, line in enumerate(lines):
        if line.startswith("Session 1: "):
            lines[i] = f"Session {number}: " + line[len("Session 1: "):]
            if i + 1 < len(lines) and lines[i + 1] and set(lines[i + 1]) == {"="}:
                lines[i + 1] = "=" * min(80, max(len(lines[i + 1]), len(lines[i])))
            break
    return "\n".join(lines)


class PullOutputs:
    """A recorder sink: `outputs(session, number)` for every pull as it closes.

    `resume` continues a pulltrace.jsonl this capture already began (the worker process
    ended and the proxy's process took over) instead of starting the file again.
    """

    def __init__(self, settings: Settings, *, started_at: float, names: NameSink, resume: bool = False) -> None:
        self.settings = settings
        self.started_at = started_at
        self.names = names
        self.resume = resume
        self.writer: jsonl.JsonlWriter | None = None

    def __call__(self, session: Session, number: int) -> None:
        """Every output of a finished pull, from one copy masked once (the final pass every
        output gets), unless the user asked to see secrets."""
        shown = session if self.settings.show_secrets else mask_value(session)
        for sink in (self._print, self._append, self._name):
            try:
                sink(shown, number)
            except Exception:  # noqa: BLE001 - one broken output must not stop the others
                log.exception("pulltrace: an output failed on pull %d", number)

    def _print(self, session: Session, number: int) -> None:
        if CONSOLE not in self.settings.outputs:
            return
        # Stray requests (a browser on a registry's UI) stay quiet; a connection that failed
        # is shown even with no pull around it (a client that rejected mitmproxy's CA).
        if session.action != "other" or any(s.exchange.error for s in session.steps):
            log.info("%s", numbered_table(session, number))

    def _append(self, session: Session, number: int) -> None:
        settings = self.settings
        if not any(o == JSONL or o in FORMATS for o in settings.outputs):
            return
        self._writer().write(session)

    def _writer(self) -> jsonl.JsonlWriter:
        if self.writer is None:
            # Without the jsonl output the file is still where finished pulls wait for the
            # reports (a hidden spool, removed on exit): never in memory.
            settings = self.settings
            name = "pulltrace.jsonl" if JSONL in settings.outputs else ".pulltrace.spool.jsonl"
            self.writer = jsonl.JsonlWriter(settings.directory / name, source="mitmproxy", tool_version=__version__,
                                            started_at=self.started_at, node=settings.node,
                                            max_bytes=settings.jsonl_max_bytes, resume=self.resume)
        return self.writer

    def _name(self, session: Session, number: int) -> None:
        self.names(flow_names(session, number), number)

    def write_reports(self) -> list[Path]:
        """The trace JSON and reports, built by reading pulltrace.jsonl back (finished pulls only)."""
        formats = [f for f in self.settings.outputs if f in FORMATS]
        written: list[Path] = [self.writer.path] if self.writer and JSONL in self.settings.outputs else []
        if not formats or self.writer is None:
            return written
        try:
            self.writer.flush()
            trace = jsonl.load_trace(*self.writer.files())
            # The jsonl is masked already; the dispatcher's own final pass is kept all the same.
            written += write_outputs(trace, self.settings.directory, formats,
                                     show_secrets=self.settings.show_secrets)
        except Exception:  # noqa: BLE001 - a failed report must not take mitmproxy down
            log.exception("pulltrace: could not write outputs to %s", self.settings.directory)
        return written

    def save(self) -> None:
        """The `pulltrace.save` command: the reports of the pulls finished so far, and the line."""
        log_written(self.write_reports())

    def close(self) -> list[Path]:
        """End of the capture: close pulltrace.jsonl, write the reports from it; what was written."""
        if self.writer is None and self.resume:
            self._writer()  # the file the worker process wrote: the reports are read from it
        if self.writer is not None:
            self.writer.close()
        written = self.write_reports()
        if self.writer is not None and JSONL not in self.settings.outputs:
            for part in self.writer.files():
                part.unlink(missing_ok=True)  # only a spool for the reports
        return written
