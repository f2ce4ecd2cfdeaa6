"""Lab docker daemons: Debian's dockerd with its own data, sockets and proxy setting.

dockerd reads HTTP(S)_PROXY only from its start environment, so each proxy setting gets
its own daemon, keyed by name. Each runs with `registry-mirrors` = the lab mirror (applies
to Docker Hub names only, e.g. `tiny`) and `plain.pulltrace.test:5000` as insecure.

dockerd treats every registry resolving into 127.0.0.0/8 as insecure: it does not verify
TLS for the lab hosts and retries over plain HTTP when HTTPS fails. skopeo and ctr verify.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from pulltrace.errors import UserError
from pulltrace.lab import procs
from pulltrace.lab.pki import Pki, ca_bundle_with
from pulltrace.lab.settings import LabSettings, write_atomic

DOCKERD = "/usr/sbin/dockerd"
# Not /usr/local/bin/docker: a newer client earlier in PATH may refuse this daemon's API.
DOCKER = "/usr/bin/docker"
CTR = "/usr/bin/ctr"
CERTS_D = Path("/etc/docker/certs.d")
MITMPROXY_CA = Path.home() / ".mitmproxy" / "mitmproxy-ca-cert.pem"
_SOCKET_MAX = 107  # sun_path is 108 bytes with the NUL
START_TIMEOUT = 90.0


@dataclass(frozen=True)
class DockerDaemon:
    """One lab dockerd. `host` is its `unix://` URL; `docker(...)` runs the CLI against it."""

    name: str
    root: Path
    proxy: str | None
    settings: LabSettings

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def exec_root(self) -> Path:
        return self.root / "x"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def containerd_address(self) -> Path:
        """The socket of the containerd dockerd starts for itself: `ctr --address` this."""
        return self.exec_root / "containerd" / "containerd.sock"

    @property
    def cli_config(self) -> Path:
        """DOCKER_CONFIG for this daemon's CLI, so `docker login` here leaves ~/.docker alone."""
        return self.root / "cli"

    @property
    def pidfile(self) -> Path:
        return self.settings.paths.pidfile(f"dockerd-{self.name}")

    @property
    def log(self) -> Path:
        return self.settings.paths.log(f"dockerd-{self.name}")

    @property
    def env(self) -> dict[str, str]:
        """Variables for a `docker` CLI aimed at this daemon."""
        return {"DOCKER_HOST": self.host, "DOCKER_CONFIG": str(self.cli_config)}

    def docker(self, *args: str, check: bool = True, timeout: float = 600,
               input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `/usr/bin/docker -H <this daemon> args…`, output captured as text."""
        env = procs.daemon_env(self.env)
        proc = subprocess.run([DOCKER, "-H", self.host, *args], env=env, capture_output=True, text=True,
                              timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc

    def ctr(self, *args: str, env: dict[str, str] | None = None, check: bool = True,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run `ctr --address <dockerd's containerd> args…`; ctr pulls in its own process,
        so proxy variables go in `env`, not on the daemon."""
        proc = subprocess.run([CTR, "--address", str(self.containerd_address), *args],
                              env=procs.daemon_env(env), capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, proc.stdout, proc.stderr)
        return proc

    def forget_images(self) -> None:
        """No image and no cached content, so the next pull shows every step on the wire.

        dockerd keeps the manifests and configs it pulled in containerd's content store
        (namespace moby), and containerd shares content across namespaces: a later
        `ctr pull` would skip those too. So every namespace is emptied.
        """
        ids = self.docker("images", "-aq", check=False).stdout.split()
        if ids:
            self.docker("rmi", "-f", *sorted(set(ids)), check=False)
        # Content still leased by an operation that is ending (dockerd's pull) refuses removal:
        # ask again until every namespace is empty, or give up after a few seconds.
        for _ in range(20):
            left = False
            for namespace in self.ctr("namespaces", "ls", "-q", check=False).stdout.split():
                images = self.ctr("-n", namespace, "images", "ls", "-q", check=False).stdout.split()
                if images:
                    self.ctr("-n", namespace, "images", "rm", "--sync", *images, check=False)
                listed = self.ctr("-n", namespace, "content", "ls", "-q", check=False).stdout.split()
                if listed:
                    self.ctr("-n", namespace, "content", "rm", *listed, check=False)
                    left = left or bool(self.ctr("-n", namespace, "content", "ls", "-q",
                                                 check=False).stdout.split())
            if not left:
                return
            time.sleep(0.25)

    def running(self) -> bool:
        return procs.read_pid(self.pidfile) is not None

    def ping(self) -> bool:
        transport = httpx.HTTPTransport(uds=str(self.socket))
        with httpx.Client(transport=transport, timeout=2) as client:
            return client.get("http://docker/_ping").text == "OK"

    def stop(self) -> bool:
        return procs.stop(self.pidfile, timeout=30)


def daemon_json(s: LabSettings) -> dict:
    return {
        "registry-mirrors": [s.https_base("mirror")],
        "insecure-registries": [f"{s.host('plain')}:{s.ports.plain}"],
        "max-concurrent-downloads": 3,
    }


def _daemon(s: LabSettings, name: str, proxy: str | None) -> DockerDaemon:
    if not name.replace("-", "").replace("_", "").isalnum():
        raise UserError(f"invalid docker daemon name {name!r}: use letters, digits, - and _")
    return DockerDaemon(name, s.paths.docker / name, proxy, s)


def install_certs_d(s: LabSettings, pki: Pki) -> None:
    """Trust the lab CA (and mitmproxy's, if present) per lab host, the way dockerd looks it up."""
    bundle = ca_bundle_with(pki, [MITMPROXY_CA])
    for host in s.hostnames:
        name = host if s.ports.tls == 443 else f"{host}:{s.ports.tls}"
        write_atomic(CERTS_D / name / "ca.crt", bundle)


def remove_certs_d(s: LabSettings) -> None:
    for host in s.hostnames:
        for name in (host, f"{host}:{s.ports.tls}"):
            shutil.rmtree(CERTS_D / name, ignore_errors=True)


def start_docker(s: LabSettings, pki: Pki, name: str = "default", proxy: str | None = None) -> DockerDaemon:
    """Start (or reuse) the daemon `name`; a running one with another proxy is restarted."""
    if not Path(DOCKERD).exists():
        raise UserError(f"{DOCKERD} not found: install Debian's docker.io package (apt-get install docker.io)")
    d = _daemon(s, name, proxy)
    if len(str(d.containerd_address)) > _SOCKET_MAX - 8:
        raise UserError(
            f"state dir {s.state_dir} is too long for unix sockets; set PULLTRACE_LAB_DIR to a shorter path"
        )
    proxy_file = d.root / "proxy"
    install_certs_d(s, pki)
    config_changed = write_atomic(d.root / "daemon.json", json.dumps(daemon_json(s), indent=2) + "\n")
    if d.running():
        same_proxy = (proxy_file.read_text() if proxy_file.exists() else "") == (proxy or "")
        if same_proxy and not config_changed and procs.wait_until(d.ping, 5):
            return d
        d.stop()
    for p in (d.data_root, d.exec_root, d.cli_config):
        p.mkdir(parents=True, exist_ok=True)
    proxy_file.write_text(proxy or "")
    extra = {"SSL_CERT_FILE": str(pki.bundle)}
    if proxy:
        extra.update(HTTP_PROXY=proxy, HTTPS_PROXY=proxy, http_proxy=proxy, https_proxy=proxy)
    d.socket.unlink(missing_ok=True)
    argv = [
        DOCKERD, "--storage-driver=vfs", "--iptables=false", "--bridge=none",
        f"--data-root={d.data_root}", f"--exec-root={d.exec_root}", f"-H=unix://{d.socket}",
        f"--pidfile={d.root / 'dockerd.pid'}", f"--config-file={d.root / 'daemon.json'}",
    ]
    pid = procs.start(procs.ProcessSpec(f"dockerd-{name}", argv, d.log, d.pidfile, procs.daemon_env(extra)))
    if not procs.wait_until(lambda: procs.exited(pid) or d.ping(), START_TIMEOUT, 0.25) or procs.exited(pid):
        error = procs.last_error_line(d.log)
        d.stop()
        raise UserError(f"dockerd {name!r} did not start; see {d.log}: {error}")
    return d


def daemons(s: LabSettings) -> list[DockerDaemon]:
    """Every lab daemon that has a state directory (running or not)."""
    if not s.paths.docker.exists():
        return []
    out = []
    for root in sorted(s.paths.docker.iterdir()):
        if root.is_dir():
            proxy = (root / "proxy").read_text() if (root / "proxy").exists() else ""
            out.append(DockerDaemon(root.name, root, proxy or None, s))
    return out


def stop_docker(s: LabSettings, name: str) -> bool:
    return _daemon(s, name, None).stop()
