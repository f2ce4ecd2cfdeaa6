"""The mitmproxy addon: watch a real pull, classify it, print and save what happened.

    mitmdump -s addons/pulltrace.py --set pulltrace_dir=out

The proxy never waits for pulltrace. On mitmproxy's event loop each flow costs constant
work: it becomes an Exchange and is queued. pulltrace's worker process (capture/worker,
fed by capture/offload) masks it, feeds the engine, closes pulls, prints each finished pull,
appends it to pulltrace.jsonl and forgets it, on another core and outside the proxy's
interpreter lock; with `pulltrace_worker=false`, or if that process cannot run, a thread
of the proxy's process does the same (capture/recorder). The reports written on exit are
built by reading that file back, so a capture of days keeps in memory only the pulls in
flight. Connections that never carry
an HTTP flow (upstream unreachable, TLS refused by either side) become exchanges too.

Blob bodies are never held: in `responseheaders` a blob (or any large or binary body)
gets a streaming callable that counts and hashes each chunk and hands it on unchanged,
so a multi-GB pull costs no memory even without `stream_large_bodies`. Every hook is
guarded: an exception inside pulltrace is logged once and the flow passes untouched.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import gc
import hashlib
import logging
import queue
import socket
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mitmproxy import command, ctx, exceptions, hooks, http

from pulltrace import __version__
from pulltrace.capture import contentview
from pulltrace.capture.flowfile import FlowFileHold
from pulltrace.capture.flows import (
    CONNECT_ERROR,
    DEFAULT_PREVIEW_LIMIT,
    TLS_ERROR,
    client_tls_failure,
    destination_url,
    failure_exchange,
    flow_to_exchange,
    is_blob_url,
    is_text_type,
)
from pulltrace.capture.names import FlowName
from pulltrace.capture.offload import WorkerProcess
from pulltrace.capture.outputs import OUTPUT_CHOICES, PullOutputs, Settings, configure_recorder, log_written
from pulltrace.capture.recorder import Recorder, RecorderThread, Stats
from pulltrace.engine import Engine
from pulltrace.model import Exchange
from pulltrace.sinks.exporters import Exporters, MetricsError
from pulltrace.urls import join_url

log = logging.getLogger("pulltrace")

DEFAULT_OUTPUTS = "console,jsonl,json,html"
# How often the recorder looks for pulls that went quiet.
TICK_S = 1.0
# Redirect targets and server connections remembered at once (the host filter, and which
# exchange opened a connection): enough for every pull in flight, never the whole capture.
RECENT = 4096
# Where the recorder runs unless pulltrace_worker says otherwise (the addon's unit tests
# set False to tick the in-process recorder themselves).
WORKER_DEFAULT = True
# Flows awaiting their names at most (far more than the pulls in flight ever hold).
LIVE_FLOWS = 50_000

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


class _GcClock:
    """Seconds the interpreter has spent collecting garbage (gc.callbacks): a full collection
    in a process holding mitmproxy's objects takes a few hundred milliseconds and stops every
    thread, so a hook it lands in looks that slow though the addon did nothing."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started:
            self.seconds += time.perf_counter() - self._started
            self._started = 0.0


_GC = _GcClock()
gc.callbacks.append(_GC)


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


# A body announced at most this large is hashed on the loop as it streams (a few tens of
# microseconds): handing each chunk to the hash thread costs more than hashing it.
INLINE_HASH_BYTES = 256 * 1024


class BlobHasher:
    """A `flow.response.stream` callable: counts and hashes chunks, returns them unchanged.

    `inline` hashes on the caller's thread (small blobs: a config, a tiny layer); otherwise
    the hash thread does it, on another core, while the bytes go on to the client."""

    def __init__(self, chain: Callable[[bytes], Any] | None = None, *, inline: bool = False) -> None:
        self.sha256 = hashlib.sha256()
        self.bytes = 0
        self.ended = False
        self.finished = threading.Event()
        self.broken = False
        self.chain = chain
        self.inline = inline

    def __call__(self, chunk: bytes) -> Any:
        if not self.broken:
            try:
                if chunk and self.inline:
                    self.bytes += len(chunk)
                    self.sha256.update(chunk)
                elif chunk:
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
                    if not self.inline:
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
        if self.broken or not self.ended or not (self.inline or self.finished.wait(timeout)):
            return None
        return "sha256:" + self.sha256.hexdigest()


def parse_outputs(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in OUTPUT_CHOICES]
    if unknown:
        raise ValueError(f"unknown output {', '.join(unknown)}; choose from {', '.join(OUTPUT_CHOICES)}")
    return names


class _Recent:
    """A bounded set: the oldest entries leave first, so it never grows with the capture."""

    def __init__(self, size: int | None = None) -> None:
        self.size = RECENT if size is None else size
        self.items: OrderedDict[str, None] = OrderedDict()

    def add(self, key: str) -> bool:
        """Remember `key`; True if it was new."""
        if key in self.items:
            self.items.move_to_end(key)
            return False
        self.items[key] = None
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return True

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def __len__(self) -> int:
        return len(self.items)


class PullTrace:
    """Classifies every registry exchange through the proxy and reports each pull."""

    def __init__(self) -> None:
        self.hashers: dict[str, BlobHasher] = {}
        self.followed = _Recent()
        self.seen_servers = _Recent()
        self.failed_hooks: set[str] = set()
        self.outputs: list[str] = parse_outputs(DEFAULT_OUTPUTS)
        self.hosts: list[str] = []
        self.settings = Settings(Path("pulltrace-out"), tuple(self.outputs), 3.0, False)
        self.started_at = time.time()
        self.exporters = Exporters(version=__version__)
        # The in-process recorder: used with pulltrace_worker=false (and by the addon's unit
        # tests, which tick it); otherwise the worker process records (see `_start_recording`).
        self.pull_outputs = PullOutputs(self.settings, started_at=self.started_at, names=self._name)
        self.recorder = Recorder(Engine(idle_s=self.settings.idle_s), [self.pull_outputs, self.exporters])
        # Flows still waiting for their pull to close, by id: weak, so mitmdump (which keeps
        # no flows) frees them as usual; touched only on the event loop.
        self.live: OrderedDict[str, weakref.ref[http.HTTPFlow]] = OrderedDict()
        # Names from the recorder (its thread, or the worker process's reader), applied on the event
        # loop; flows held from `-w` until named.
        self.names: queue.SimpleQueue[list[FlowName]] = queue.SimpleQueue()
        self.flowfile = FlowFileHold()
        # Client connections opening a CONNECT tunnel, and failures an HTTP flow may yet report.
        self.tunnels: set[str] = set()
        self.held: dict[str, Exchange] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: RecorderThread | WorkerProcess = RecorderThread(self.recorder, tick_s=TICK_S)
        self.recording_started = False
        # Slowest time one hook of ours held the event loop (seconds); logged on exit.
        self.slowest_hook_s = 0.0
        self.slowest_hook_cpu_s = 0.0
        self.slowest_hook_with_gc_s = 0.0

    # -- options ---------------------------------------------------------------------
    def load(self, loader: Any) -> None:
        contentview.register()  # the "pulltrace" view of manifests, tokens, challenges, errors
        loader.add_option("pulltrace_dir", str, "pulltrace-out",
                          "Directory pulltrace writes pulltrace.jsonl to as pulls finish, and its trace JSON "
                          "and reports to on shutdown and on the pulltrace.save command.")
        loader.add_option("pulltrace_outputs", str, DEFAULT_OUTPUTS,
                          "Comma-separated outputs: console (a table of each pull as it ends), jsonl (each "
                          "finished pull appended to pulltrace.jsonl), json, html, md, text, har (written on "
                          "shutdown from the finished pulls).")
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
                          "Seconds a pull must be quiet before it is closed, printed and written, when not "
                          "all of its blobs were seen (the client already had some).")
        loader.add_option("pulltrace_node", str, "",
                          "This machine's name in pulltrace.jsonl, the metrics and the traces (a fleet report "
                          "groups pulls by it); empty uses the hostname.")
        loader.add_option("pulltrace_metrics", str, "",
                          "HOST:PORT (or :PORT) to serve Prometheus metrics of the finished pulls on, at "
                          "/metrics; empty serves none.")
        loader.add_option("pulltrace_otlp", str, "",
                          "OTLP/HTTP URL to export each finished pull to as an OpenTelemetry trace (a base URL "
                          "like http://collector:4318 gets /v1/traces); empty exports none.")
        loader.add_option("pulltrace_worker", bool, WORKER_DEFAULT,
                          "Group, diagnose and write pulls in a process of pulltrace's own, on another core, "
                          "so the proxy's interpreter is not shared with that work; false does it in a "
                          "thread of the proxy's process.")
        loader.add_option("pulltrace_jsonl_max_mb", int, 0,
                          "Rotate pulltrace.jsonl when it reaches this many MB: it becomes pulltrace.jsonl.1 "
                          "(older parts .2, .3, ...) and a new file starts; 0 never rotates.")

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
        if "pulltrace_jsonl_max_mb" in updated and ctx.options.pulltrace_jsonl_max_mb < 0:
            raise exceptions.OptionsError("pulltrace_jsonl_max_mb must be 0 (never rotate) or more MB")
        node = ctx.options.pulltrace_node.strip() or socket.gethostname()
        self._configure_exporters(updated, node)
        max_mb = ctx.options.pulltrace_jsonl_max_mb
        self.settings = Settings(Path(ctx.options.pulltrace_dir), tuple(self.outputs),
                                 float(ctx.options.pulltrace_idle), bool(ctx.options.pulltrace_show_secrets),
                                 node, max_mb * 1024 * 1024 if max_mb else None)
        configure_recorder(self.recorder, self.pull_outputs, self.settings)
        if isinstance(self.thread, WorkerProcess):
            self.thread.send(("settings", self.settings, self.exporters.active()))

    def _configure_exporters(self, updated: set[str], node: str) -> None:
        for name, start in (("pulltrace_metrics", self.exporters.set_metrics),
                            ("pulltrace_otlp", self.exporters.set_otlp)):
            if name not in updated:
                continue
            try:
                where = start(getattr(ctx.options, name), node=node)
            except (ValueError, MetricsError) as e:
                if self.loop is None:
                    # At start mitmproxy prints an OptionsError from a script with its traceback;
                    # one logged error line also stops mitmdump (exit 1), and says only what to fix.
                    log.error("%s: %s", name, e)
                    return
                raise exceptions.OptionsError(f"{name}: {e}") from None
            if where:
                log.info("pulltrace: %s %s", "metrics on" if name == "pulltrace_metrics" else "traces to",
                         f"http://{where}/metrics" if name == "pulltrace_metrics" else where)

    def running(self) -> None:
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None
        self._prepare_names()
        self._start_recording()

    def _start_recording(self) -> None:
        """Choose, once, where the recorder runs: the worker process, or this process's thread."""
        if self.recording_started:
            return
        self.recording_started = True
        if ctx.options.pulltrace_worker:
            self.thread = WorkerProcess(self.settings, started_at=self.started_at, tick_s=TICK_S,
                                        forward_sessions=self.exporters.active(), on_names=self._name,
                                        on_session=self.exporters, fallback=self._fallback)
            self.thread.start()

    def _fallback(self, pulls_closed: int) -> tuple[RecorderThread, PullOutputs]:
        """The in-process recorder that takes over from a worker process that is gone."""
        outputs = PullOutputs(self.settings, started_at=self.started_at, names=self._name, resume=True)
        recorder = Recorder(Engine(idle_s=self.settings.idle_s), [outputs, self.exporters])
        configure_recorder(recorder, outputs, self.settings)
        recorder.closed = pulls_closed
        self.pull_outputs = outputs
        return RecorderThread(recorder, tick_s=TICK_S), outputs

    # -- hooks -----------------------------------------------------------------------
    def wanted(self, flow: http.HTTPFlow) -> bool:
        if not self.hosts or flow.request.pretty_url in self.followed:
            return True
        host = flow.request.pretty_host.lower()
        return any(fnmatch.fnmatchcase(host, pattern) for pattern in self.hosts)

    def wanted_host(self, host: str) -> bool:
        return not self.hosts or any(fnmatch.fnmatchcase(host.lower(), pattern) for pattern in self.hosts)

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
        length = flow.response.headers.get("content-length")
        small = length is not None and length.isdigit() and int(length) <= INLINE_HASH_BYTES
        hasher = BlobHasher(existing if callable(existing) else None, inline=small)
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
        """The flow as an Exchange, queued for the recorder: the only work done on the loop."""
        began = self._clock()
        hasher = self.hashers.pop(flow.id, None)
        if not self.wanted(flow):
            return
        streamed_bytes = None
        if hasher is not None:
            streamed_bytes = hasher.bytes
            encoding = flow.response.headers.get("content-encoding", "identity") if flow.response else "identity"
            # A compressed stream's hash is not the blob's digest; leave it unverified.
            if encoding.lower() not in ("", "identity"):
                hasher = None
        first = self.seen_servers.add(flow.server_conn.id)
        self._start_recording()
        ex = flow_to_exchange(
            flow,
            show_secrets=ctx.options.pulltrace_show_secrets,
            preview_limit=ctx.options.pulltrace_preview,
            streamed_bytes=streamed_bytes,
            first_on_connection=first,
            # The worker process decodes claims, takes prints and masks: that work leaves this process.
            finish=not isinstance(self.thread, WorkerProcess),
        )
        if flow.response is not None and flow.response.status_code in (301, 302, 303, 307, 308):
            location = flow.response.headers.get("location")
            if location:
                self.followed.add(join_url(flow.request.pretty_url, location))
        if self.loop is None:
            self.running()  # a script loaded without the running hook: names still go to the loop
        held = self.held.pop(flow.client_conn.id, None)
        if held is not None and flow.response is not None:
            self._submit(held)  # answered anyway (another connection): the failure stays a step
        # else this request is the one that waited for the failed connection: it says the same, and more.
        self.live[flow.id] = weakref.ref(flow)
        if len(self.live) > LIVE_FLOWS:
            self.live.popitem(last=False)  # a flow whose pull never closed (dropped exchanges)
        # The digest is read off the loop (the recorder's thread, or the worker's sender): the hash may
        # still be finishing.
        if self._submit(ex, hasher):
            self.flowfile.hold(flow)  # out of a `-w` file until named (Save's hook runs after ours)
        self._timed(began)

    def _submit(self, ex: Exchange, hasher: BlobHasher | None = None) -> bool:
        self._start_recording()
        return self.thread.submit(ex, hasher)

    # -- connections that never became an HTTP flow ----------------------------------
    # mitmproxy reports a failed upstream connection once per connection; whether an HTTP
    # flow also reports it depends on who waited for it. A CONNECT being opened (eager
    # connection strategy): no flow will, the failure is the step. A request (plain http://
    # through the proxy, or TLS to the upstream failing under a tunnel): its error() will,
    # so the failure is held by client connection until that request ends (and dropped) or
    # the client disconnects (and recorded). Everything here is per live connection.

    @guarded
    def http_connect(self, flow: http.HTTPFlow) -> None:
        self.tunnels.add(flow.client_conn.id)

    @guarded
    def http_connected(self, flow: http.HTTPFlow) -> None:
        self.tunnels.discard(flow.client_conn.id)

    @guarded
    def http_connect_error(self, flow: http.HTTPFlow) -> None:
        self.tunnels.discard(flow.client_conn.id)

    @guarded
    def client_disconnected(self, client: Any) -> None:
        self.tunnels.discard(client.id)
        held = self.held.pop(client.id, None)
        if held is not None:
            self._submit(held)

    def _hold(self, client_id: str, ex: Exchange) -> None:
        earlier = self.held.pop(client_id, None)
        if earlier is not None:
            self._submit(earlier)
        self.held[client_id] = ex

    @guarded
    def server_connect_error(self, data: Any) -> None:
        """The upstream could not be reached: mitmproxy answers the CONNECT with 502, no flow exists."""
        server, client = data.server, data.client
        host = server.address[0] if server.address else ""
        if not self.wanted_host(str(host)):
            return
        began = self._clock()
        plain = bool(server.address) and server.address[1] == 80 and not server.tls
        ex = failure_exchange(
            id=f"{server.id}-connect", what=CONNECT_ERROR, message=str(server.error or ""),
            url=destination_url(server.address, server.sni if isinstance(server.sni, str) else None, tls=not plain),
            client=client.peername, server=server.address, started_at=server.timestamp_start, ended_at=time.time(),
        )
        if client.id in self.tunnels:
            self._submit(ex)
        else:
            self._hold(client.id, ex)
        self._timed(began)

    @guarded
    def tls_failed_server(self, data: Any) -> None:
        """The upstream's TLS failed (a plain-HTTP registry behind https://, a certificate mitmproxy
        does not trust): the client sees the proxy's 502 or a closed tunnel."""
        server, client = data.conn, data.context.client
        sni = server.sni if isinstance(server.sni, str) else None
        if not self.wanted_host(sni or str(server.address[0] if server.address else "")):
            return
        began = self._clock()
        ex = failure_exchange(
            id=f"{server.id}-tls", what=TLS_ERROR, message=str(server.error or ""),
            url=destination_url(server.address, sni), client=client.peername, server=server.address,
            started_at=server.timestamp_tcp_setup or server.timestamp_start, ended_at=time.time(),
        )
        # The request that waited for this connection fails with the same words (error()).
        self._hold(client.id, ex)
        self._timed(began)

    @guarded
    def tls_failed_client(self, data: Any) -> None:
        """The client broke off the handshake with the proxy: most often it does not trust
        mitmproxy's CA (install it, or give the client its certificate)."""
        client, server = data.conn, data.context.server
        sni = client.sni if isinstance(client.sni, str) else None
        if not self.wanted_host(sni or str(server.address[0] if server.address else "")):
            return
        began = self._clock()
        message = str(client.error or "")
        ex = failure_exchange(
            id=f"{client.id}-tls", what=client_tls_failure(message), message=message,
            url=destination_url(server.address, sni), client=client.peername, server=server.address,
            started_at=client.timestamp_start, ended_at=time.time(),
        )
        self._submit(ex)
        self._timed(began)

    def _clock(self) -> tuple[float, float, float]:
        return time.perf_counter(), time.thread_time(), _GC.seconds

    def _timed(self, began: tuple[float, float, float]) -> None:
        # Wall time includes waiting for the CPU and the interpreter; CPU time is ours alone. A
        # garbage collection stops every thread wherever it starts: it is counted apart.
        wall, cpu, collecting = time.perf_counter() - began[0], time.thread_time() - began[1], _GC.seconds - began[2]
        self.slowest_hook_with_gc_s = max(self.slowest_hook_with_gc_s, wall)
        self.slowest_hook_s = max(self.slowest_hook_s, wall - collecting)
        self.slowest_hook_cpu_s = max(self.slowest_hook_cpu_s, max(0.0, cpu - collecting))

    @guarded
    def done(self) -> None:
        contentview.unregister()
        for held in self.held.values():
            self._submit(held)
        self.held.clear()
        if not self.thread.stop():
            log.warning("pulltrace: the recorder did not finish in time; the last pulls may be missing")
        self._apply_pending_names()  # the last pulls' names, before Save closes a `-w` file
        self.flowfile.detach()
        self.exporters.close()
        stats, pulls, written = self._recording_ended()
        log.info("pulltrace: %d exchanges, %d pulls; slowest hook %.1f ms (%.1f ms CPU; %.1f ms with the "
                 "interpreter's garbage collection), longest queue wait %.0f ms%s", stats.exchanges, pulls,
                 self.slowest_hook_s * 1000, self.slowest_hook_cpu_s * 1000, self.slowest_hook_with_gc_s * 1000,
                 stats.max_lag_s * 1000, f", {stats.dropped} dropped" if stats.dropped else "")
        log_written(written)

    def _recording_ended(self) -> tuple[Stats, int, list[Path]]:
        """What the recorder did, once it stopped: stats, pulls closed, files written."""
        if isinstance(self.thread, WorkerProcess):
            return self.thread.merged_stats(), self.thread.pulls_closed, self.thread.written
        return self.thread.stats, self.recorder.closed, self.pull_outputs.close()

    # -- names in mitmproxy: comment, mark, metadata; kept in `-w` files (capture/flowfile) --
    def _prepare_names(self) -> None:
        """Hold flows back from `-w` until named; show the names in mitmweb's flow list."""
        master = getattr(ctx, "master", None)
        if master is None:
            return
        if not self.flowfile.attach(master.addons) and "save_stream_file" in ctx.options \
                and not self.flowfile.told:
            self.flowfile.told = True
            log.warning("pulltrace: this mitmproxy's save addon cannot be held back, so -w files carry no "
                        "pulltrace names; save named flows with the save.file command once their pulls closed")
        # mitmweb lists flows without their comments unless asked (web_columns); a user's own choice stays.
        if "web_columns" in ctx.options and not ctx.options.has_changed("web_columns"):
            columns = list(ctx.options.web_columns)
            if "comment" not in columns:
                ctx.options.update(web_columns=[*columns, "comment"])

    def _name(self, names: list[FlowName], number: int) -> None:
        """Hand a pull's flow names back to the event loop, the only thread that may touch flows."""
        self.names.put(names)
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._apply_pending_names)
        else:
            self._apply_pending_names()  # no running proxy (mitmproxy's test harness)

    def _apply_pending_names(self) -> None:
        while True:
            try:
                names = self.names.get_nowait()
            except queue.Empty:
                return
            self._apply_names(names)

    def _apply_names(self, names: list[FlowName]) -> None:
        changed = []
        for name in names:
            ref = self.live.pop(name.flow_id, None)
            flow = ref() if ref is not None else None
            if flow is None:
                continue
            flow.comment = name.comment
            flow.marked = ":exclamation:" if name.marked else ""
            flow.metadata["pulltrace"] = name.metadata
            self.flowfile.release(flow)  # into a `-w` file, named
            changed.append(flow)
        if changed:
            try:
                ctx.master.addons.trigger(hooks.UpdateHook(changed))  # mitmweb and the console redraw
            except Exception:  # noqa: BLE001 - a UI that cannot redraw keeps the names anyway
                pass

    # -- outputs ---------------------------------------------------------------------
    @command.command("pulltrace.save")
    def save(self) -> None:
        """Write the trace JSON and reports of every pull finished so far (open ones when they close)."""
        if isinstance(self.thread, WorkerProcess):
            self.thread.send(("save",))
            return
        self.thread.call(self.pull_outputs.save)
