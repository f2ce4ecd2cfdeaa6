"""Starting and stopping the lab's daemons by pid, never by name.

Each daemon runs in its own session (it outlives the CLI that started it), writes
stdout/stderr to `<state>/logs/<name>.log`, and is recorded in `<state>/run/<name>.pid`
as `pid starttime`: the start time guards against killing an unrelated process that
inherited a recycled pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# docker-registry maps every REGISTRY_* variable onto its configuration (a stray
# REGISTRY_AUTH_FILE from podman makes it exit); proxies would capture the lab's own
# upstream traffic. Neither belongs in a lab daemon's environment.
_DROPPED_PREFIXES = ("REGISTRY_",)
_DROPPED = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
            "no_proxy", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"}


def daemon_env(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a lab daemon: the caller's, cleaned, plus `extra`."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if k not in _DROPPED and not k.startswith(_DROPPED_PREFIXES)}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    log: Path
    pidfile: Path
    env: dict[str, str] = field(default_factory=daemon_env)
    cwd: Path | None = None


def _starttime(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: fields after the last ')' are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def read_pid(pidfile: Path) -> int | None:
    """The pid recorded in `pidfile` when that very process still runs, else None."""
    try:
        pid_text, _, started = pidfile.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    now = _starttime(pid)
    if now is None or (started and now != started):
        return None
    return pid


def start(spec: ProcessSpec) -> int:
    """Start a daemon detached from the caller's session; returns its pid."""
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    spec.pidfile.parent.mkdir(parents=True, exist_ok=True)
    with spec.log.open("ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(spec.argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            spec.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=spec.env, cwd=spec.cwd, start_new_session=True,
        )
    spec.pidfile.write_text(f"{proc.pid} {_starttime(proc.pid) or ''}\n")
    return proc.pid


def exited(pid: int) -> bool:
    """True once `pid` is gone; reaps it when it is our own child."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True
    except ChildProcessError:
        pass
    return _starttime(pid) is None


def stop(pidfile: Path, timeout: float = 15.0) -> bool:
    """SIGTERM the recorded process (SIGKILL after `timeout`); True when one was running."""
    pid = read_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if not wait_until(lambda: exited(pid), timeout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_until(lambda: exited(pid), 5)
    pidfile.unlink(missing_ok=True)
    return True


def signal_process(pidfile: Path, sig: int) -> bool:
    pid = read_pid(pidfile)
    if pid is None:
        return False
    os.kill(pid, sig)
    return True


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass (bounded, never forever)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return True
        except (httpx.HTTPError, OSError):  # a probe that fails is simply "not yet"
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def last_error_line(log: Path, started_marker: str = "==== ") -> str:
    """The most telling line of a daemon's last run: the last one mentioning an error, else the last."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    run = text.rsplit(started_marker, 1)[-1].splitlines()[1:] or text.splitlines()
    lines = [line.strip() for line in run if line.strip()]
    if not lines:
        return "(log is empty)"
    for line in reversed(lines):
        low = line.lower()
        if any(w in low for w in ("error", "panic", "fatal", "emerg", "failed", "cannot")):
            return line[:300]
    return lines[-1][:300]
