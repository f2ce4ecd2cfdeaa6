"""The mitmproxy addon: watch a real pull, classify it, print and save what happened.

    mitmdump -s addons/pulltrace.py --set pulltrace_dir=out

Blob bodies are never held: in `responseheaders` a blob (or any large or binary body)
gets a streaming callable that counts and hashes each chunk and hands it on unchanged,
so a multi-GB pull costs no memory even without `stream_large_bodies`. Every hook is
guarded: an exception inside pulltrace is logged once and the flow passes untouched.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import hashlib
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import urljoin

from mitmproxy import command, ctx, exceptions, http

from pulltrace.capture.flows import DEFAULT_PREVIEW_LIMIT, flow_to_exchange, is_blob_url, is_text_type
from pulltrace.render.outputs import FORMATS, write_outputs
from pulltrace.model import Exchange, Session, Trace
from pulltrace.pipeline import build_trace
from pulltrace.sessions import is_complete

log = logging.getLogger("pulltrace")

CONSOLE = "console"
OUTPUT_CHOICES = (CONSOLE, *FORMATS)
DEFAULT_OUTPUTS = "console,json,html"
# How often the addon looks for pulls that went quiet.
TICK_S = 1.0

F = TypeVar("F", bound=Callable[..., Any])


def guarded(hook: F) -> F:
    """Run a hook so that pulltrace's own failure never touches the flow or the pull."""

    @functools.wraps(hook)
    def wrapper(self: PullTrace, *args: Any, **kwargs: Any) -> Any:
        try:
            return hook(self, *args, **kwargs)
        except Exception:  # noqa: BLE001 - the pull matters more than pulltrace
            name = hook.__name__
            if name not in self.failed_hooks:
                self.failed_hooks.add(name)
                log.exception("pulltrace: %s failed; the flow passes untouched (logged once)", name)
            return None

    return wrapper  # type: ignore[return-value]


class _HashWorker:
    """One background thread hashing chunks in arrival order.

    sha256 releases the GIL on large buffers, so hashing runs on another core while
    mitmproxy's event loop goes on forwarding bytes: the pull does not wait for it.
    """

    # Past this many queued chunks (a few MiB), hash on the caller's thread: memory stays bounded.
    MAX_QUEUED = 64

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._run, name="pulltrace-sha256", daemon=True)
                    self.thread.start()
        self.queue.put(job)

    def busy(self) -> bool:
        return self.queue.qsize() > self.MAX_QUEUED

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            try:
                job()
            except Exception:  # noqa: BLE001 - a hashing failure only loses a statistic
                pass


_WORKER = _HashWorker()


class BlobHasher:
    """A `flow.response.stream` callable: counts and hashes chunks, returns them unchanged."""

    def __init__(self, chain: Callable[[bytes], Any] | None = None) -> None:
        self.sha256 = hashlib.sha256()
        self.bytes = 0
        self.ended = False
        self.finished = threading.Event()
        self.broken = False
        self.chain = chain

    def __call__(self, chunk: bytes) -> Any:
        if not self.broken:
            try:
                if chunk:
                    self.bytes += len(chunk)
                    if _WORKER.busy():
                        # Keep chunk order: drain what is queued first. A worker that cannot
                        # catch up leaves this blob unverified rather than wrongly hashed.
                        if self._wait_drained():
                            self.sha256.update(chunk)
                        else:
                            self.broken = True
                    else:
                        _WORKER.submit(functools.partial(self.sha256.update, chunk))
                elif not self.ended:
                    self.ended = True  # mitmproxy calls with b"" at the end of the body
                    _WORKER.submit(self.finished.set)
            except Exception:  # noqa: BLE001 - never break the stream for a statistic
                self.broken = True
        return self.chain(chunk) if self.chain is not None else chunk

    @staticmethod
    def _wait_drained() -> bool:
        done = threading.Event()
        _WORKER.submit(done.set)
        return done.wait(5)

    def digest(self, timeout: float = 5.0) -> str | None:
        """The body's sha256 once every chunk is hashed; None for a body that never ended."""
        if self.broken or not self.ended or not self.finished.wait(timeout):
            return None
        return "sha256:" + self.sha256.hexdigest()


def parse_outputs(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in OUTPUT_CHOICES]
    if unknown:
        raise ValueError(f"unknown output {', '.join(unknown)}; choose from {', '.join(OUTPUT_CHOICES)}")
    return names


class PullTrace:
    """Classifies every registry exchange through the proxy and reports each pull."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.hashers: dict[str, BlobHasher] = {}
        self.pending: dict[str, tuple[Exchange, BlobHasher]] = {}
        self.followed: set[str] = set()
        self.seen_servers: set[str] = set()
        self.printed: set[str] = set()
        self.failed_hooks: set[str] = set()
        self.outputs: list[str] = parse_outputs(DEFAULT_OUTPUTS)
        self.hosts: list[str] = []
        self.dirty = False
        self.waiting = False
        self._ticker: asyncio.Task | None = None

    # -- options ---------------------------------------------------------------------
    def load(self, loader: Any) -> None:
        loader.add_option("pulltrace_dir", str, "pulltrace-out",
                          "Directory pulltrace writes its trace JSON and reports to, on shutdown and on "
                          "the pulltrace.save command.")
        loader.add_option("pulltrace_outputs", str, DEFAULT_OUTPUTS,
                          "Comma-separated outputs: console (a table of each pull as it ends), json, html, "
                          "md, text, har.")
        loader.add_option("pulltrace_preview", int, DEFAULT_PREVIEW_LIMIT,
                          "Largest text/JSON body (bytes) kept as a preview: manifests, tokens and errors. "
                          "Blob bodies are never kept.")
        loader.add_option("pulltrace_show_secrets", bool, False,
                          "Keep tokens, credentials, cookies and URL signatures in the outputs instead of "
                          "masking them.")
        loader.add_option("pulltrace_hosts", str, "",
                          "Comma-separated host patterns (fnmatch, e.g. *.example.com) to record; empty "
                          "records every host. Downloads that follow a recorded redirect are always kept.")
        loader.add_option("pulltrace_idle", int, 3,
                          "Seconds a pull must be quiet before its table is printed, when not all of its "
                          "blobs were seen (the client already had some).")

    def configure(self, updated: set[str]) -> None:
        if "pulltrace_outputs" in updated:
            try:
                self.outputs = parse_outputs(ctx.options.pulltrace_outputs)
            except ValueError as e:
                raise exceptions.OptionsError(f"pulltrace_outputs: {e}") from e
        if "pulltrace_preview" in updated and ctx.options.pulltrace_preview < 0:
            raise exceptions.OptionsError("pulltrace_preview must be 0 or more bytes")
        if "pulltrace_idle" in updated and ctx.options.pulltrace_idle < 0:
            raise exceptions.OptionsError("pulltrace_idle must be 0 or more seconds")
        if "pulltrace_dir" in updated:
            path = Path(ctx.options.pulltrace_dir)
            if path.exists() and not path.is_dir():
                raise exceptions.OptionsError(f"pulltrace_dir {path} exists and is not a directory")
        if "pulltrace_hosts" in updated:
            self.hosts = [h.strip().lower() for h in ctx.options.pulltrace_hosts.split(",") if h.strip()]

    def running(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._ticker is None:
            self._ticker = loop.create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.report_finished(time.time())

    # -- hooks -----------------------------------------------------------------------
    def wanted(self, flow: http.HTTPFlow) -> bool:
        if not self.hosts or flow.request.pretty_url in self.followed:
            return True
        host = flow.request.pretty_host.lower()
        return any(fnmatch.fnmatchcase(host, pattern) for pattern in self.hosts)

    @guarded
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """A push uploads blobs: stream request bodies that are large or binary, never hold them."""
        if not self.wanted(flow) or flow.request.stream:
            return
        length = flow.request.headers.get("content-length")
        size = int(length) if length and length.isdigit() else None
        text = is_text_type(flow.request.headers.get("content-type"))
        if (size is not None and size > max(ctx.options.pulltrace_preview, DEFAULT_PREVIEW_LIMIT)) or (
            not text and flow.request.method in ("PUT", "PATCH", "POST") and (size is None or size > 0)
        ):
            flow.request.stream = True

    @guarded
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if not self.wanted(flow) or flow.response is None:
            return
        if not self.should_stream(flow):
            return
        existing = flow.response.stream
        hasher = BlobHasher(existing if callable(existing) else None)
        self.hashers[flow.id] = hasher
        flow.response.stream = hasher  # set last: nothing above can leave the flow half-changed

    def should_stream(self, flow: http.HTTPFlow) -> bool:
        """Blobs, CDN downloads and anything large or binary are streamed, never buffered."""
        resp = flow.response
        assert resp is not None
        if flow.request.method == "HEAD" or resp.status_code in (204, 304):
            return False
        if is_blob_url(flow.request.pretty_url) and 200 <= resp.status_code < 300:
            return True
        if resp.stream:
            return True  # mitmproxy already chose to stream (stream_large_bodies): hash it too
        length = resp.headers.get("content-length")
        size = int(length) if length and length.isdigit() else None
        if not is_text_type(resp.headers.get("content-type")):
            return size is None or size > 0
        return size is not None and size > max(ctx.options.pulltrace_preview, DEFAULT_PREVIEW_LIMIT)

    @guarded
    def response(self, flow: http.HTTPFlow) -> None:
        self.record(flow)

    @guarded
    def error(self, flow: http.HTTPFlow) -> None:
        # The same path as response(): a failed request is a step too.
        if isinstance(flow, http.HTTPFlow):
            self.record(flow)

    def record(self, flow: http.HTTPFlow) -> None:
        if not self.wanted(flow):
            return
        hasher = self.hashers.pop(flow.id, None)
        streamed_bytes = None
        if hasher is not None:
            streamed_bytes = hasher.bytes
            encoding = flow.response.headers.get("content-encoding", "identity") if flow.response else "identity"
            # A compressed stream's hash is not the blob's digest; leave it unverified.
            if encoding.lower() not in ("", "identity"):
                hasher = None
        server = flow.server_conn.id
        first = server not in self.seen_servers
        self.seen_servers.add(server)
        ex = flow_to_exchange(
            flow,
            show_secrets=ctx.options.pulltrace_show_secrets,
            preview_limit=ctx.options.pulltrace_preview,
            streamed_bytes=streamed_bytes,
            first_on_connection=first,
        )
        if hasher is not None:
            # The digest is read when a trace is built, off the flow's path: the
            # background hash may still be finishing the last chunks.
            self.pending[ex.id] = (ex, hasher)
        if flow.response is not None and flow.response.status_code in (301, 302, 303, 307, 308):
            location = flow.response.headers.get("location")
            if location:
                self.followed.add(urljoin(flow.request.pretty_url, location))
        self.exchanges.append(ex)
        self.dirty = True

    @guarded
    def done(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self.report_finished(time.time(), final=True)
        self.save()

    # -- outputs ---------------------------------------------------------------------
    def trace(self) -> Trace:
        for key, (ex, hasher) in list(self.pending.items()):
            ex.body_sha256 = hasher.digest()
            del self.pending[key]
        return build_trace(list(self.exchanges), source="mitmproxy")

    @command.command("pulltrace.save")
    def save(self) -> None:
        """Write the trace JSON and reports of everything captured so far."""
        files = [f for f in self.outputs if f != CONSOLE]
        if not files or not self.exchanges:
            return
        try:
            written = write_outputs(self.trace(), ctx.options.pulltrace_dir, files)
        except Exception:  # noqa: BLE001 - a failed report must not take mitmproxy down
            log.exception("pulltrace: could not write outputs to %s", ctx.options.pulltrace_dir)
            return
        log.info("pulltrace: wrote %s", ", ".join(str(p) for p in written))

    def report_finished(self, now: float, *, final: bool = False) -> None:
        """Print the table of every pull that completed or went quiet, once each.

        Runs from a one-second ticker, so classification is redone at most once a
        second while traffic flows, never on the path of a response.
        """
        if CONSOLE not in self.outputs or not self.exchanges:
            return
        if not final and not self.dirty and not self.waiting:
            return
        self.dirty = False
        try:
            trace = self.trace()
        except Exception:  # noqa: BLE001
            if "report" not in self.failed_hooks:
                self.failed_hooks.add("report")
                log.exception("pulltrace: could not classify the capture")
            return
        idle = ctx.options.pulltrace_idle
        self.waiting = False
        for session in trace.sessions:
            key = session.steps[0].id if session.steps else session.id
            if key in self.printed or session.action == "other":
                continue
            last = max(s.exchange.started_at + (s.exchange.duration_ms or 0.0) / 1000.0 for s in session.steps)
            if final or is_complete(session) or now - last >= idle:
                self.printed.add(key)
                self.print_session(trace, session)
            else:
                self.waiting = True

    def print_session(self, trace: Trace, session: Session) -> None:
        from pulltrace.render.text import render_text

        one = Trace(sessions=[session], source=trace.source, created_at=trace.created_at,
                    tool_version=trace.tool_version)
        log.info("%s", render_text(one))

