"""Run `mitmdump -s addons/pulltrace.py` as a child process: the lab captures, the capture
tests and the benchmark all start it the same way.

The addon writes its outputs when mitmproxy shuts down, so a capture ends with SIGINT
(what Ctrl-C sends) and a wait, never a kill; `stop()` kills only a mitmdump that does
not exit in time.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from pulltrace.lab.settings import ephemeral_ports

_CLONE_ADDON = Path(__file__).resolve().parents[1] / "addons" / "pulltrace.py"


class MitmdumpError(RuntimeError):
    """mitmdump exited at start, or never listened."""


def default_addon() -> Path:
    """The clone's `addons/pulltrace.py` (what the docs tell users to run), else the packaged one."""
    if _CLONE_ADDON.is_file():
        return _CLONE_ADDON
    from pulltrace.commands.report import addon_path

    return addon_path()


def mitmdump_executable() -> Path:
    """The mitmdump installed beside this Python (the venv's)."""
    return Path(sys.executable).with_name("mitmdump")


def mitmdump_command(
    *,
    port: int,
    confdir: Path,
    upstream_ca: Path | None = None,
    out: Path | None = None,
    outputs: Sequence[str] = ("json",),
    addon: Path | None = None,
    with_addon: bool = True,
    host: str = "127.0.0.1",
    options: Sequence[str] = (),
    quiet: bool = False,
) -> list[str]:
    """The argv of a mitmdump listening on host:port with the pulltrace addon.

    `upstream_ca` is the CA mitmproxy trusts upstream (it ignores the system store, so the
    lab's CA must be named or every flow is a 502). `addon` defaults to `default_addon()`;
    `with_addon=False` runs mitmdump bare (the benchmark's baseline). `options` are further
    `name=value` settings.
    """
    argv = [str(mitmdump_executable())]
    if quiet:
        argv.append("-q")
    argv += ["--listen-host", host, "-p", str(port), "--set", f"confdir={confdir}"]
    if upstream_ca is not None:
        argv += ["--set", f"ssl_verify_upstream_trusted_ca={upstream_ca}"]
    for option in options:
        argv += ["--set", option]
    if with_addon:
        argv += ["-s", str(addon or default_addon())]
        if out is not None:
            argv += ["--set", f"pulltrace_dir={out}"]
        argv += ["--set", f"pulltrace_outputs={','.join(outputs)}"]
    return argv


# Where free_port looks: below the kernel's ephemeral range and the lab's internal ports (30100+).
_STABLE_PORTS = (20000, 30000)
_handed: set[int] = set()  # never the same port twice to one process (two servers asked one after the other)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, below the kernel's ephemeral range where there is room: no
    outgoing connection can take it before the server binds it, or while a fixture restarts a server
    on it (a lab dockerd reads its proxy's port once). Else the OS's pick."""
    low, _high = ephemeral_ports()
    top = min(_STABLE_PORTS[1], low - 1)
    for _ in range(100) if top > _STABLE_PORTS[0] else ():
        port = random.randint(_STABLE_PORTS[0], top)
        if port in _handed:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
            try:
                s.bind((host, port))
            except OSError:
                continue
            _handed.add(port)
            return port
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Mitmdump:
    """A running mitmdump: started by `start()`, its console in `log`, stopped by `stop()`."""

    def __init__(self, proc: subprocess.Popen[bytes], host: str, port: int, log: Path) -> None:
        self.proc, self.host, self.port, self.log = proc, host, port, log

    @classmethod
    def start(cls, argv: Sequence[str], *, log: Path, cwd: Path | None = None, host: str = "127.0.0.1",
              port: int, timeout: float = 20.0) -> Mitmdump:
        """Start `argv` (from `mitmdump_command`) and return once it accepts connections on host:port."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as console:
            proc = subprocess.Popen(list(argv), stdout=console, stderr=subprocess.STDOUT, cwd=cwd)
        m = cls(proc, host, port, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise MitmdumpError(f"mitmdump exited at start (status {proc.returncode}); see {log}:\n"
                                    + m.console()[-2000:])
            with socket.socket() as s:
                if s.connect_ex((host, port)) == 0:
                    return m
            time.sleep(0.1)
        m.stop()
        raise MitmdumpError(f"mitmdump did not listen on {host}:{port} within {timeout:.0f} s; see {log}")

    @property
    def url(self) -> str:
        """The proxy URL to give a client (HTTPS_PROXY, dockerd's proxy)."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGINT, then wait: mitmproxy shuts down and the addon writes its outputs.

        Returns the exit status; a mitmdump still running after `timeout` is killed.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def console(self) -> str:
        """What mitmdump printed so far (the addon's console table among it)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
