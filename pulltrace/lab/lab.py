"""`Lab`: bring the lab up (idempotently), report on it, and take it down by pid.

Order matters: the token service and the registries first, then nginx (TLS for every
hostname), then the images are pushed, then the mirror (a pull-through cache panics when
its upstream does not answer at start-up), then the default dockerd.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import ssl
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from pulltrace.errors import UserError
from pulltrace.lab import docker as lab_docker
from pulltrace.lab import hosts, images, nginx, ports, procs, push, slow
from pulltrace.lab import pki as lab_pki
from pulltrace.lab.docker import DockerDaemon
from pulltrace.lab.endpoints import Endpoint, endpoints
from pulltrace.lab.images import ImageInfo
from pulltrace.lab.registries import RegistrySpec, htpasswd_text, registry_specs
from pulltrace.lab.settings import LabSettings, load_settings, state_dir_from_env, write_atomic
from pulltrace.lab.token_service import Signer, TokenConfig

REGISTRY_BIN = "/usr/bin/docker-registry"
START_TIMEOUT = 30.0

# binary → the Debian package that provides it
REQUIRED = {
    REGISTRY_BIN: "docker-registry",
    nginx.NGINX: "nginx-light",
    lab_docker.DOCKERD: "docker.io",
    lab_docker.DOCKER: "docker.io",
    "/usr/sbin/update-ca-certificates": "ca-certificates",
    str(images.BUSYBOX_PATH): "busybox-static",
}


class LabError(UserError):
    """The lab could not be brought up; the message names the log to read."""


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: Endpoint
    healthy: bool
    detail: str  # "401" / "connection refused" …


Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class Lab:
    """The lab in one state directory. `Lab.load()` reads what `lab up` saved there."""

    def __init__(self, settings: LabSettings) -> None:
        self.settings = settings
        self.paths = settings.paths
        self.pki = lab_pki.Pki(self.paths.pki)

    @classmethod
    def load(cls, state_dir: Path | None = None) -> Lab:
        state_dir = state_dir or state_dir_from_env()
        return cls(load_settings(state_dir) or LabSettings(state_dir=state_dir))

    # ---- what tests and other modules read ----

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    @property
    def ca_path(self) -> Path:
        """The lab CA (PEM); also installed in the system trust store by `lab up`."""
        return self.pki.ca_cert

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        return endpoints(self.settings)

    def url(self, name: str) -> str:
        """Base URL of an endpoint: `lab.url("hub")` → `https://hub.pulltrace.test`."""
        return self.endpoints[name].url

    def host(self, name: str) -> str:
        """What goes in an image reference: `hub.pulltrace.test` (with `:port` when needed)."""
        return self.endpoints[name].reference_host

    @property
    def images(self) -> dict[str, ImageInfo]:
        """Digests of the pushed images by repository (`library/tiny`), from `<state>/images.json`."""
        if self.paths.images_json.exists():
            return images.load_catalog(self.paths.images_json)
        return images.catalog(self.settings.large)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_path))

    def client(self, **kwargs) -> httpx.Client:
        """An httpx client that trusts the lab CA and follows no redirect on its own."""
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("follow_redirects", False)
        return httpx.Client(verify=self.ssl_context(), **kwargs)

    def log(self, name: str) -> Path:
        """A log in `<state>/logs/`: `token-requests` (one JSON line per token request),
        `token-service`, `registry-<hub|gcr|basic|harbor|plain|gitlab|mirror>`, `nginx-access`,
        `cdn-access`, `mirror-cdn-access`, `expired-cdn-access` and `loop-cdn-access`
        (with auth=present|absent), `nginx-error`,
        `dockerd-<name>`."""
        return self.paths.log(name)

    def signer(self) -> Signer:
        return Signer.from_files(self.pki.signing_key, self.pki.signing_cert)

    def docker(self, name: str = "default", proxy: str | None = None) -> DockerDaemon:
        """A lab dockerd, started if needed (one per proxy setting: dockerd reads it at start)."""
        return lab_docker.start_docker(self.settings, self.pki, name, proxy)

    def docker_daemons(self) -> list[DockerDaemon]:
        return lab_docker.daemons(self.settings)

    # ---- status ----

    def probe(self, endpoint: Endpoint, timeout: float = 3.0) -> EndpointStatus:
        try:
            with self.client(timeout=timeout) as client:
                status = client.get(endpoint.probe).status_code
        except (httpx.HTTPError, OSError, ssl.SSLError) as e:
            return EndpointStatus(endpoint, False, type(e).__name__)
        return EndpointStatus(endpoint, status in endpoint.healthy, str(status))

    def status(self) -> list[EndpointStatus]:
        if not self.ca_path.exists():
            return [EndpointStatus(e, False, "not set up") for e in self.endpoints.values()]
        return [self.probe(e) for e in self.endpoints.values()]

    def healthy(self) -> bool:
        return self.paths.settings.exists() and all(s.healthy for s in self.status())

    def env_lines(self, docker_name: str = "default") -> list[str]:
        d = DockerDaemon(docker_name, self.paths.docker / docker_name, None, self.settings)
        lines = [
            f"export PULLTRACE_LAB_DIR={self.state_dir}",
            f"export DOCKER_HOST={d.host}",
            # The Debian client matches this daemon; a newer client must be told its API version.
            "export DOCKER_API_VERSION=1.41",
            f"export PULLTRACE_LAB_CA={self.ca_path}",
            f"export SSL_CERT_FILE={self.pki.bundle}",
            f"export CONTAINERD_ADDRESS={d.containerd_address}",
        ]
        for e in self.endpoints.values():
            lines.append(f"export PULLTRACE_LAB_{e.name.upper().replace('-', '_')}={e.url}")
        return lines

    # ---- up ----

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One `up`/`down` at a time per state dir (parallel test sessions may both try)."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        with open(self.paths.root / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def up(self, progress: Progress = _quiet, start_docker: bool = True) -> None:
        """Bring everything up; whatever already runs healthy with the same config is reused."""
        preflight()
        with self._locked():
            self._up(progress, start_docker)

    def _up(self, progress: Progress, start_docker: bool) -> None:
        s = self.settings
        self.paths.make()
        s.save()
        progress("certificates")
        self.pki = lab_pki.ensure_pki(self.paths.pki, s.hostnames)
        trust_changed = lab_pki.install_system_trust(self.pki, s.domain)
        if trust_changed:
            # Go reads the trust store once per process: daemons started before must restart.
            for name in ("registry-mirror",):
                procs.stop(self.paths.pidfile(name))
            for d in self.docker_daemons():
                d.stop()
        hosts.install(s.domain, s.hostnames)

        progress("token service")
        self._ensure_token_service()
        specs = registry_specs(s, self.pki.signing_cert, self.paths.conf / "htpasswd")
        write_atomic(self.paths.conf / "htpasswd",
                     htpasswd_text(_read(self.paths.conf / "htpasswd")))
        for spec in specs:
            if not spec.after_hub:
                progress(f"registry {spec.name}")
                self._ensure_registry(spec)
        progress("nginx")
        self._ensure_nginx()
        progress("images")
        self._push_images()
        for spec in specs:
            if spec.after_hub:
                progress(f"registry {spec.name}")
                self._ensure_registry(spec)
        if start_docker:
            progress("dockerd")
            self.docker("default")

    def _ensure(self, name: str, argv: list[str], configs: dict[Path, str], port: int,
                health: Callable[[], bool], env: dict[str, str] | None = None,
                reload_signal: int | None = None, sockets: Sequence[Path] = ()) -> str:
        pidfile, log = self.paths.pidfile(name), self.paths.log(name)
        changed = [write_atomic(path, text) for path, text in configs.items()]
        pid = procs.read_pid(pidfile)
        if pid is not None and any(changed) and reload_signal is not None:
            os.kill(pid, reload_signal)
            time.sleep(0.5)
            if procs.wait_until(health, START_TIMEOUT):
                return "reloaded"
        if pid is not None and not any(changed) and procs.wait_until(health, 2):
            return "running"
        if pid is not None:
            procs.stop(pidfile)
        holder = ports.listener(port)
        if holder is not None:
            raise LabError(
                f"{holder.describe()}; stop it or give `lab up` other ports (--tls-port, --plain-port, --port-base)"
            )
        for path in sockets:
            if (holder := ports.claim_unix_socket(path)) is not None:
                raise LabError(f"{holder.describe()}; stop it, or set PULLTRACE_LAB_DIR to another state dir")
        pid = procs.start(procs.ProcessSpec(name, argv, log, pidfile, procs.daemon_env(env)))
        healthy = procs.wait_until(lambda: procs.exited(pid) or health(), START_TIMEOUT)
        if not healthy or procs.exited(pid):
            error = procs.last_error_line(log)
            procs.stop(pidfile)
            raise LabError(f"{name} did not start; see {log}: {error}")
        return "started"

    def _ensure_token_service(self) -> None:
        s = self.settings
        config = TokenConfig(
            host="127.0.0.1", port=s.ports.token, signing_key=self.pki.signing_key,
            signing_cert=self.pki.signing_cert, log=self.paths.log("token-requests"),
            lifetime=s.token_lifetime, brief_lifetime=s.brief_lifetime, default_service=s.host("hub"),
        )
        path = self.paths.conf / "token-service.json"
        # The code's digest rides along in the config: an upgraded pulltrace restarts the service.
        data = {**config.to_json(), "code": _code_digest("token_service.py", "users.py")}
        self._ensure(
            "token-service", [sys.executable, "-m", "pulltrace.lab.token_service", "--config", str(path)],
            {path: json.dumps(data, indent=2, sort_keys=True) + "\n"}, s.ports.token,
            lambda: _get_status(f"http://127.0.0.1:{s.ports.token}/healthz") == 200,
            env={"PYTHONPATH": _package_root()},
        )

    def _ensure_registry(self, spec: RegistrySpec) -> None:
        path = self.paths.conf / f"registry-{spec.name}.yml"
        env = {"SSL_CERT_FILE": str(self.pki.bundle)}  # the mirror's upstream fetch must trust the lab CA
        self._ensure(
            f"registry-{spec.name}", [REGISTRY_BIN, "serve", str(path)], {path: spec.text()}, spec.port,
            lambda: _get_status(spec.probe) in (200, 401), env=env,
        )

    def _ensure_nginx(self) -> None:
        conf = self.paths.conf / "nginx.conf"
        text = nginx.render(self.settings, self.pki)
        error_log = self.paths.log("nginx-error")
        if _read(conf) != text:
            candidate = self.paths.conf / "nginx.conf.new"
            candidate.write_text(text)
            problem = nginx.check(candidate, self.paths.root, error_log)
            candidate.unlink()
            if problem:
                raise LabError(f"nginx rejects the generated configuration: {problem}")
        cdn = self.endpoints["cdn"]
        self._ensure(
            "nginx", nginx.argv(conf, self.paths.root, error_log), {conf: text}, self.settings.ports.tls,
            lambda: self.probe(cdn, timeout=2).healthy, reload_signal=signal.SIGHUP,
            sockets=[slow.origin_socket(self.settings)],
        )

    def _push_images(self) -> None:
        s = self.settings
        signer = self.signer()
        base = f"http://127.0.0.1:{s.ports.hub}"

        def token_for(repo: str) -> str:
            access = [{"type": "repository", "name": repo, "actions": ["pull", "push"]}]
            return signer.access_token("admin", s.host("hub"), access, 600)[0]

        built = images.build_small()
        catalog = {image.repository: images.info_of(image) for image in built}
        try:
            push.push_all(base, built, token_for)
            if s.large:
                # Building 320 MB takes seconds: skip it when hub already holds what was recorded.
                recorded = self._recorded_large()
                if recorded and push.manifest_digest(
                    base, recorded.repository, recorded.tag, recorded.media_type, token_for(recorded.repository)
                ) == recorded.digest:
                    catalog[recorded.repository] = recorded
                else:
                    large = images.build_large()
                    push.push_all(base, (large,), token_for)
                    catalog[large.repository] = images.info_of(large)
        except (push.PushError, httpx.HTTPError) as e:
            raise LabError(f"pushing the lab images failed: {e}; see {self.paths.log('registry-hub')}") from e
        write_atomic(self.paths.images_json, images.catalog_json(catalog))

    def _recorded_large(self) -> ImageInfo | None:
        if not self.paths.images_json.exists():
            return None
        try:
            return images.load_catalog(self.paths.images_json).get("library/large")
        except (ValueError, KeyError, TypeError):
            return None

    # ---- down ----

    def down(self, purge: bool = False, progress: Progress = _quiet) -> list[str]:
        """Stop what the lab started (by pidfile), drop the hosts block; `purge` also deletes data."""
        if not self.paths.root.exists():
            return []
        with self._locked():
            return self._down(purge, progress)

    def _down(self, purge: bool, progress: Progress) -> list[str]:
        stopped = []
        for d in self.docker_daemons():
            if d.stop():
                stopped.append(f"dockerd-{d.name}")
        names = ["registry-mirror", "nginx", "registry-hub", "registry-gcr", "registry-basic",
                 "registry-harbor", "registry-plain", "registry-gitlab", "token-service"]
        for name in names:
            if procs.stop(self.paths.pidfile(name)):
                stopped.append(name)
                progress(f"stopped {name}")
        try:
            hosts.uninstall(self.settings.domain)
        except OSError:
            pass
        if purge:
            lab_docker.remove_certs_d(self.settings)
            lab_pki.remove_system_trust(self.settings.domain)
            shutil.rmtree(self.state_dir, ignore_errors=True)
        return stopped


def _code_digest(*modules: str) -> str:
    here = Path(__file__).parent
    return hashlib.sha256(b"".join((here / m).read_bytes() for m in modules)).hexdigest()[:16]


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _get_status(url: str) -> int:
    with httpx.Client(timeout=2) as client:
        return client.get(url).status_code


def _package_root() -> str:
    import pulltrace

    return str(Path(pulltrace.__file__).resolve().parent.parent)


def require_root() -> None:
    if os.geteuid() != 0:
        raise UserError(
            "`pulltrace lab up` needs root: it edits /etc/hosts and the system trust store; run it with sudo"
        )


def preflight() -> None:
    """Root and the Debian binaries the lab runs; raises UserError naming what is missing."""
    require_root()
    for binary, package in REQUIRED.items():
        if not Path(binary).exists():
            raise UserError(f"{binary} not found: install the Debian package {package} (apt-get install {package})")

