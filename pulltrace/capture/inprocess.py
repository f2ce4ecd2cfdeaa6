"""mitmproxy inside this process: a `Master` on its own thread and event loop.

`pulltrace capture` and `pulltrace mirror` need the proxy running while this process does
other work (runs a command, waits for Ctrl-C), so the proxy gets a thread of its own and
the caller talks to it only through `start()` (returns once it listens) and `stop()`
(mitmproxy's thread-safe `Master.shutdown`, after which every addon's `done` hook has run
and the pulltrace addon has written its outputs).

The master is built the way mitmproxy's own tools build theirs (`mitmproxy.tools.main`):
`Options`, then `Master`, the default addons, ours, the options set, `await master.run()`.
There is no termlog and no errorcheck (errorcheck calls `sys.exit`): log records are
collected by one handler, so the step tables can be printed after the command's own output
and a start-up error becomes one line. Works with mitmproxy 11 and 12 (the same API).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulltrace.errors import UserError

# The pulltrace addon's console tables are log records of these loggers (`pulltrace_outputs=console`).
_OWN_LOGGERS = ("pulltrace",)
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 120.0


class ProxyStartError(UserError):
    """mitmproxy did not start listening (a port in use, a bad option)."""


# A long-running mirror logs a warning per failed connection: keep the latest only.
KEPT_RECORDS = 200


@dataclass
class ProxyLog:
    """What the proxy logged: pulltrace's console text, and mitmproxy's latest warnings and errors."""

    console: list[str] = field(default_factory=list)
    warnings: deque[str] = field(default_factory=lambda: deque(maxlen=KEPT_RECORDS))
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=KEPT_RECORDS))


def _is_own(name: str) -> bool:
    return any(name == n or name.startswith(n + ".") for n in _OWN_LOGGERS)


class _Collector(logging.Handler):
    """Keeps the records of one proxy run; never prints, so the command's output stays its own."""

    def __init__(self, log: ProxyLog, on_console: Callable[[str], None] | None = None) -> None:
        super().__init__(logging.INFO)
        self.log = log
        self.on_console = on_console
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record must not break the proxy
            return
        with self.lock_:
            if _is_own(record.name) and record.levelno < logging.WARNING:
                if self.on_console is not None:
                    self.on_console(message)
                else:
                    self.log.console.append(message)
            elif record.levelno >= logging.ERROR:
                self.log.errors.append(message)
            elif record.levelno >= logging.WARNING:
                self.log.warnings.append(message)


class _Listening:
    """Reads where the proxy listens once mitmproxy runs (its `running` hook comes after set-up)."""

    def __init__(self, proxy: InProcessProxy) -> None:
        self.proxy = proxy

    def running(self) -> None:
        from mitmproxy import ctx

        server = ctx.master.addons.get("proxyserver")
        addrs = list(server.listen_addrs()) if server is not None else []
        self.proxy._listening(addrs)


class InProcessProxy:
    """One mitmproxy master with `addons` and `options`, on a thread of its own."""

    def __init__(self, options: Mapping[str, Any], addons: Sequence[object],
                 on_console: Callable[[str], None] | None = None) -> None:
        """`on_console` gets pulltrace's console text as it comes (a long-running mirror);
        without it the text is kept in `log.console` for the caller to print at the end."""
        self.options = dict(options)
        self.addons = list(addons)
        self.log = ProxyLog()
        self.address: tuple[str, int] | None = None
        self._master: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._failure: str | None = None
        self._thread: threading.Thread | None = None
        self._collector = _Collector(self.log, on_console)
        self._saved_levels: dict[str, int] = {}

    # -- the caller's side -------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT_S) -> tuple[str, int]:
        """Start mitmproxy; return (host, port) it listens on, or raise ProxyStartError."""
        self._install_logging()
        self._thread = threading.Thread(target=self._run, name="pulltrace-mitmproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise ProxyStartError(f"mitmproxy did not start within {timeout:.0f} s")
        if self._failure is not None or self.address is None:
            failure = self._failure or "it is not listening"
            self.stop()
            raise ProxyStartError(failure)
        return self.address

    @property
    def url(self) -> str:
        assert self.address is not None
        host, port = self.address
        return f"http://{host}:{port}"

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Shut mitmproxy down and wait for its `done` hooks (the outputs are written there)."""
        try:
            if self._master is not None and self._thread is not None and self._thread.is_alive():
                self._master.shutdown()
            if self._thread is not None:
                self._thread.join(timeout)
        finally:
            self._uninstall_logging()

    # -- the proxy's thread ------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # noqa: BLE001 - reported to the caller as one line
            if self._failure is None:
                self._failure = _one_line(e)
        finally:
            self._ready.set()

    async def _main(self) -> None:
        from mitmproxy import addons as default_addons
        from mitmproxy import exceptions, master, options

        opts = options.Options()
        m = master.Master(opts, with_termlog=False)
        m.addons.add(*default_addons.default_addons())
        m.addons.add(*self.addons, _Listening(self))
        try:
            opts.update(**self.options)
        except (exceptions.OptionsError, KeyError) as e:
            self._failure = f"mitmproxy refused an option: {_one_line(e)}"
            self._ready.set()
            return
        self._master = m
        await m.run()

    def _listening(self, addrs: list[Any]) -> None:
        if addrs:
            host, port = addrs[0][0], addrs[0][1]
            self.address = (str(host), int(port))
        else:
            errors = [e for e in self.log.errors if e] or ["no address to listen on"]
            self._failure = errors[-1].splitlines()[0]
            self._master.shutdown()
        self._ready.set()

    # -- logging -----------------------------------------------------------------------
    def _install_logging(self) -> None:
        # mitmproxy's tools set the root logger to DEBUG; an info record of the pulltrace
        # addon (its console table) is dropped before any handler otherwise.
        for name in ("", *_OWN_LOGGERS):
            logger = logging.getLogger(name)
            self._saved_levels[name] = logger.level
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)
        logging.getLogger().addHandler(self._collector)

    def _uninstall_logging(self) -> None:
        logging.getLogger().removeHandler(self._collector)
        for name, level in self._saved_levels.items():
            logging.getLogger(name).setLevel(level)
        self._saved_levels.clear()


def _one_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
