"""A throwaway dockerd for capturing a `docker` command.

`docker pull` happens inside dockerd, which reads HTTP(S)_PROXY only from its start
environment: so the capture starts a dockerd of its own with the proxy and the proxy's CA
in its environment, its own data root, exec root, socket and pidfile (the way the lab runs
its daemons, `pulltrace.lab.docker`), points the docker CLI at it, and stops it afterwards.
The user's daemon, its images and its configuration are never touched; the user's
`registry-mirrors` and `insecure-registries` are copied, so the pull goes where theirs would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pulltrace.errors import UserError

USER_CONFIG = Path("/etc/docker/daemon.json")
# What decides where a pull goes and how: copied from the user's daemon.json.
COPIED_KEYS = ("registry-mirrors", "insecure-registries", "max-concurrent-downloads", "max-download-attempts",
               "allow-nondistributable-artifacts")
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
_SOCKET_MAX = 100  # sun_path is 108 bytes; containerd's socket sits deepest
# A docker CLI aimed at the throwaway daemon must not be redirected by the user's settings.
_CLI_DROPPED = ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")


def is_docker_command(argv: Sequence[str]) -> bool:
    """`docker …` (any path to the docker CLI): the pull happens in dockerd, not in the command."""
    return bool(argv) and Path(argv[0]).name == "docker"


def find_dockerd(path: str | None = None) -> str:
    found = shutil.which("dockerd", path=path)
    if not found:
        raise UserError("dockerd not found on PATH: a docker command is captured through a throwaway dockerd; "
                        "install docker (Debian: apt-get install docker.io), or use `pulltrace mirror`")
    return found


def check_root(euid: int | None = None) -> None:
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        raise UserError("a docker command is captured through a throwaway dockerd, which needs root: run "
                        "`sudo -E pulltrace capture -- docker …`, or use `pulltrace mirror` (registry-mirrors)")


def daemon_config(user_config: Path = USER_CONFIG) -> dict:
    """The throwaway daemon's daemon.json: the user's mirrors and insecure registries, nothing else."""
    try:
        user = json.loads(user_config.read_text())
    except (OSError, ValueError):
        return {}
    return {k: user[k] for k in COPIED_KEYS if isinstance(user, dict) and k in user}


def _ping(socket_path: Path) -> bool:
    import httpx

    transport = httpx.HTTPTransport(uds=str(socket_path))
    with httpx.Client(transport=transport, timeout=2) as client:
        return client.get("http://docker/_ping").text == "OK"


def _wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return True
        except Exception:  # noqa: BLE001 - a probe that fails is "not yet"
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


def _last_error(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    for line in reversed(lines):
        if any(w in line.lower() for w in ("error", "fatal", "failed", "cannot")):
            return line[:300]
    return lines[-1][:300] if lines else "(log is empty)"


class ThrowawayDockerd:
    """One dockerd in a temporary directory, started with `env`; `stop()` removes it and its data."""

    def __init__(self, dockerd: str, root: Path | None = None) -> None:
        self.dockerd = dockerd
        self.root = Path(tempfile.mkdtemp(prefix="pulltrace-dockerd-", dir=root))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"

    def cli_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` with the docker CLI aimed at this daemon (the user's CLI config, for credentials, kept)."""
        env = {k: v for k, v in base.items() if k not in _CLI_DROPPED}
        env["DOCKER_HOST"] = self.host
        return env

    def start(self, env: Mapping[str, str], config: dict | None = None) -> None:
        exec_root = self.root / "x"
        if len(str(exec_root / "containerd" / "containerd-debug.sock")) > _SOCKET_MAX:
            raise UserError(f"{self.root} is too long a path for unix sockets; use a shorter --docker-root")
        data_root = self.root / "data"
        for p in (exec_root, data_root):
            p.mkdir(parents=True, exist_ok=True)
        config_file = self.root / "daemon.json"
        config_file.write_text(json.dumps(daemon_config() if config is None else config, indent=2) + "\n")
        argv = [
            self.dockerd, "--storage-driver=vfs", "--iptables=false", "--ip-masq=false", "--bridge=none",
            f"--data-root={data_root}", f"--exec-root={exec_root}", f"-H=unix://{self.socket}",
            f"--pidfile={self.root / 'dockerd.pid'}", f"--config-file={config_file}",
        ]
        with self.log.open("wb") as log:
            # Its own session: a Ctrl-C meant for the command does not kill the daemon mid-capture.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=dict(env), start_new_session=True)
        proc = self.proc
        if not _wait_until(lambda: proc.poll() is not None or _ping(self.socket), START_TIMEOUT_S) \
                or proc.poll() is not None:
            error = _last_error(self.log)
            self.stop()
            raise UserError(f"the throwaway dockerd did not start: {error}")

    def docker(self, docker_cli: str, *args: str, base: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([docker_cli, *args], env=self.cli_env(base), capture_output=True, text=True,
                              timeout=600)

    def images(self, docker_cli: str, base: Mapping[str, str]) -> list[str]:
        """The tagged images now in this daemon (what a `--load` hands to the user's daemon)."""
        proc = self.docker(docker_cli, "images", "--format", "{{.Repository}}:{{.Tag}}", base=base)
        return sorted({line for line in proc.stdout.split() if "<none>" not in line})

    def load_into(self, docker_cli: str, refs: Sequence[str], base: Mapping[str, str]) -> str:
        """`docker save REFS` here, `docker load` into the daemon `base` points at; its output."""
        user_env = dict(base)
        save = subprocess.Popen([docker_cli, "save", *refs], env=self.cli_env(base), stdout=subprocess.PIPE)
        assert save.stdout is not None
        load = subprocess.run([docker_cli, "load"], env=user_env, stdin=save.stdout, capture_output=True, text=True)
        save.stdout.close()
        if save.wait() != 0 or load.returncode != 0:
            raise UserError(f"could not load {', '.join(refs)} into your docker daemon: "
                            f"{(load.stderr or load.stdout).strip() or 'docker save failed'}")
        return load.stdout.strip()

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after a while), then remove its directory."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
