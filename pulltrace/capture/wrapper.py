"""`pulltrace capture -- COMMAND`: one command's registry traffic, through mitmproxy, traced.

mitmproxy runs in this process with the pulltrace addon on a free loopback port; COMMAND
runs with the proxy set for it alone and the proxy's CA trusted by it alone (a bundle of
the system's CAs plus the proxy's, in SSL_CERT_FILE and its cousins). mitmproxy verifies
registries against the system store plus `--ca-cert`. Its confdir, and so its CA key, live
in a temporary directory removed at the end: no trust change is left behind. A `docker`
command is run against a throwaway dockerd started with the proxy (`capture.dockerd`).
The step tables and a plain-words line per trust failure are printed after COMMAND's own
output; the exit status is COMMAND's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pulltrace.capture.dockerd import ThrowawayDockerd, check_root, find_dockerd, is_docker_command
from pulltrace.capture.inprocess import InProcessProxy
from pulltrace.capture.tlswatch import TrustWatch, summary_lines
from pulltrace.capture.trust import RunTrust, run_trust, upstream_bundle, write_bundle
from pulltrace.errors import UserError

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
# Cleared, so no host the command talks to bypasses the proxy (lab or corporate NO_PROXY lists).
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")
CERT_DIR_VARIABLE = "PULLTRACE_CERT_DIR"
DEFAULT_DIR = "pulltrace-out"
DEFAULT_OUTPUTS = "console,json,html"
# How long a command gets to end after Ctrl-C before it is terminated.
INTERRUPT_GRACE_S = 10.0


@dataclass(frozen=True)
class CaptureOptions:
    command: list[str]
    out: Path = Path(DEFAULT_DIR)
    outputs: str = DEFAULT_OUTPUTS
    ca_certs: tuple[Path, ...] = ()
    load: bool = False
    docker_root: Path | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


def child_env(base: Mapping[str, str], proxy_url: str, trust: RunTrust, cert_dir: Path) -> dict[str, str]:
    """`base` plus the proxy and the proxy's CA: the environment of the command (or its dockerd)."""
    env = {k: v for k, v in base.items() if k not in NO_PROXY_VARIABLES}
    env.update({name: proxy_url for name in PROXY_VARIABLES})
    env.update(trust.client_env())
    env[CERT_DIR_VARIABLE] = str(cert_dir)
    return env


def proxy_options(out: Path, outputs: str, confdir: Path, upstream_ca: Path) -> dict[str, object]:
    """mitmproxy's options for a capture: loopback, a port the OS picks, our confdir and upstream trust."""
    return {
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "confdir": str(confdir),
        "ssl_verify_upstream_trusted_ca": str(upstream_ca),
        "pulltrace_dir": str(out),
        "pulltrace_outputs": outputs,
    }


def resolve_command(command: Sequence[str], env: Mapping[str, str]) -> str:
    if not command:
        raise UserError("no command to capture: pulltrace capture [options] -- COMMAND [ARGS…]")
    found = shutil.which(command[0], path=env.get("PATH"))
    if found is None:
        raise UserError(f"{command[0]}: command not found")
    return found


def client_name(command: Sequence[str]) -> str:
    """Whose handshakes the proxy sees: the daemon for `docker`, else the program itself."""
    return "dockerd" if is_docker_command(command) else Path(command[0]).name


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _run_child(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run the command in the foreground; Ctrl-C reaches it (same process group) and ends the capture.

    A SIGTERM sent to pulltrace (a CI job cancelled, `timeout`) is passed on to the command, so
    it ends the same way and the capture still writes what it saw.
    """
    proc = subprocess.Popen(list(argv), env=dict(env))

    def forward(signum: int, frame: object) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward) if _on_main_thread() else None
    try:
        status = proc.wait()
    except KeyboardInterrupt:
        try:
            status = proc.wait(INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.terminate()
            status = proc.wait()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 128 - status if status < 0 else status  # killed by a signal: the shell's 128+N


class Capture:
    """One `pulltrace capture` run; `run()` returns the command's exit status."""

    def __init__(self, options: CaptureOptions, stderr: TextIO | None = None) -> None:
        self.options = options
        self.stderr = stderr or sys.stderr
        self.watch = TrustWatch()
        self.proxy: InProcessProxy | None = None

    def say(self, line: str) -> None:
        print(line, file=self.stderr, flush=True)

    def run(self) -> int:
        o = self.options
        docker = is_docker_command(o.command)
        executable = resolve_command(o.command, o.env)
        dockerd = None
        if docker:
            check_root()
            dockerd = find_dockerd(o.env.get("PATH"))
        if o.out.exists() and not o.out.is_dir():
            raise UserError(f"-o {o.out} exists and is not a directory")
        # Outside the command's own run, SIGTERM stops the capture the way Ctrl-C does: the
        # throwaway dockerd is stopped and the temporary CA deleted, never left behind.
        previous = signal.signal(signal.SIGTERM, _interrupt) if _on_main_thread() else None
        tmp = Path(tempfile.mkdtemp(prefix="pulltrace-capture-"))
        try:
            return self._run(tmp, [executable, *o.command[1:]], dockerd)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    def _run(self, tmp: Path, argv: list[str], dockerd: str | None) -> int:
        from pulltrace.capture.addon import PullTrace

        o = self.options
        confdir = tmp / "mitmproxy"
        upstream = upstream_bundle(tmp, o.ca_certs)
        self.proxy = InProcessProxy(proxy_options(o.out, o.outputs, confdir, upstream), [PullTrace(), self.watch])
        self.proxy.start()
        status = 1
        try:
            trust = run_trust(tmp, confdir, upstream)
            cert_dir = tmp / "certs"
            write_bundle(cert_dir / "pulltrace-ca.crt", [trust.proxy_ca.read_bytes()])
            env = child_env(o.env, self.proxy.url, trust, cert_dir)
            if dockerd is not None:
                status = self._run_docker(argv, env, dockerd)
            else:
                status = _run_child(argv, env)
        finally:
            self.proxy.stop()
            self.report(status)
        return status

    def _run_docker(self, argv: list[str], env: dict[str, str], dockerd: str) -> int:
        o = self.options
        daemon = ThrowawayDockerd(dockerd, o.docker_root)
        try:
            daemon.start({k: v for k, v in env.items() if k not in ("DOCKER_HOST",)})
            status = _run_child(argv, daemon.cli_env(env))
            images = daemon.images(argv[0], o.env)
            if images and o.load and status == 0:
                self.say(daemon.load_into(argv[0], images, o.env))
            elif images:
                self.say(f"pulltrace: {', '.join(images)} went to a throwaway daemon, now removed; "
                         f"add --load to load {'it' if len(images) == 1 else 'them'} into your docker daemon")
            return status
        finally:
            daemon.stop()

    def report(self, status: int) -> None:
        """The step tables (the addon's console output), then one line per trust failure."""
        assert self.proxy is not None
        for text in self.proxy.log.console:
            self.say(text)
        for line in summary_lines(self.watch.snapshot(), client_name(self.options.command), failed=status != 0):
            self.say(f"pulltrace: {line}")
        for error in self.proxy.log.errors:
            if error.startswith("pulltrace"):
                self.say(error.splitlines()[0])


def run_capture(options: CaptureOptions, stderr: TextIO | None = None) -> int:
    return Capture(options, stderr).run()
