"""Where the lab lives and which ports and hostnames it uses, saved so every command agrees.

`lab up` writes `<state>/lab.json`; `status`, `env`, `down`, `docker` and the test fixture
read it back, so flags given to `up` need not be repeated.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pulltrace.errors import UserError
from pulltrace.model import write_atomically

STATE_DIR_ENV = "PULLTRACE_LAB_DIR"
DEFAULT_STATE_DIR = Path("/var/lib/pulltrace-lab")
# `.test` is reserved (RFC 2606): these names can never collide with a real registry.
DEFAULT_DOMAIN = "pulltrace.test"

# Every hostname the lab serves, all resolved to 127.0.0.1 through /etc/hosts.
HOST_NAMES = (
    "auth", "hub", "cdn", "gcr", "basic", "harbor", "mirror", "mirror-cdn", "proxy", "plain",
    # Faults: nginx in front of hub's registry answering as a misbehaving registry or CDN would.
    "quota", "ratelimit", "expired", "expired-cdn", "loop", "loop-cdn",
    # Slow pulls (pulltrace/lab/slow.py): a caching CDN edge, a rate-limited blob host.
    "slow", "throttled", "edge", "throttle",
    # Self-hosted GitLab: the registry on one host, its token realm under /jwt/auth on another.
    "gitlab", "gitlab-registry",
    # registry.k8s.io: a front host that 307s manifests and blobs to a backing registry.
    "k8s", "k8s-backend",
)


# The internal ports sit below Linux's ephemeral range (32768-60999 unless configured): a port
# in that range can be the local port of any outgoing connection on the machine at the moment a
# registry restarts, and the registry then cannot bind it ("address already in use").
DEFAULT_PORT_BASE = 30100
# The base lab.json held before, inside that range: moved out of it when read.
OLD_DEFAULT_PORT_BASE = 35100
INTERNAL_PORTS = 7  # token, hub, gcr, basic, harbor, mirror, gitlab
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_ports(path: Path = EPHEMERAL_RANGE) -> tuple[int, int]:
    """The ports the kernel picks for outgoing connections (Linux's default where unreadable)."""
    try:
        low, high = (int(x) for x in path.read_text().split()[:2])
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def default_port_base(ephemeral: tuple[int, int] | None = None) -> int:
    """A base whose internal ports no outgoing connection can hold: DEFAULT_PORT_BASE, else
    just below or above the ephemeral range; DEFAULT_PORT_BASE when the range leaves no room."""
    low, high = ephemeral or ephemeral_ports()
    for base in (DEFAULT_PORT_BASE, low - 1000, high + 1):
        outside = base + INTERNAL_PORTS - 1 < low or base > high
        if outside and 1024 < base and base + INTERNAL_PORTS - 1 < 65536:
            return base
    return DEFAULT_PORT_BASE


@dataclass(frozen=True)
class Ports:
    """Listening ports. `tls` and `plain` are public; the rest bind 127.0.0.1 behind nginx."""

    tls: int = 443
    plain: int = 5000
    token: int = DEFAULT_PORT_BASE
    hub: int = DEFAULT_PORT_BASE + 1
    gcr: int = DEFAULT_PORT_BASE + 2
    basic: int = DEFAULT_PORT_BASE + 3
    harbor: int = DEFAULT_PORT_BASE + 4
    mirror: int = DEFAULT_PORT_BASE + 5

    # Derived, not a field: lab.json keeps the fields it had, so every checkout reads it.
    @property
    def gitlab(self) -> int:
        return self.token + 6

    @classmethod
    def from_base(cls, tls: int = 443, plain: int = 5000, base: int = DEFAULT_PORT_BASE) -> Ports:
        """Internal ports are `base` + 0 (token service), +1 hub, +2 gcr, +3 basic, +4 harbor, +5 mirror,
        +6 gitlab."""
        return cls(tls, plain, base, base + 1, base + 2, base + 3, base + 4, base + 5)


_PORT_NAMES = frozenset(f.name for f in dataclasses.fields(Ports))


def _out_of_ephemeral(ports: Ports) -> Ports:
    """A lab saved with the old default base gets the new one: its internal ports were in the
    kernel's ephemeral range. A base the user chose (`lab up --port-base`) is kept."""
    if ports.token != OLD_DEFAULT_PORT_BASE:
        return ports
    return Ports.from_base(tls=ports.tls, plain=ports.plain, base=default_port_base())


@dataclass(frozen=True)
class LabSettings:
    state_dir: Path = DEFAULT_STATE_DIR
    domain: str = DEFAULT_DOMAIN
    ports: Ports = field(default_factory=lambda: Ports.from_base(base=default_port_base()))
    large: bool = False
    token_lifetime: int = 300
    brief_lifetime: int = 4

    def host(self, name: str) -> str:
        return f"{name}.{self.domain}"

    def https_base(self, name: str) -> str:
        """`https://hub.pulltrace.test`, with the port only when it is not 443."""
        port = "" if self.ports.tls == 443 else f":{self.ports.tls}"
        return f"https://{self.host(name)}{port}"

    @property
    def plain_base(self) -> str:
        return f"http://{self.host('plain')}:{self.ports.plain}"

    @property
    def hostnames(self) -> list[str]:
        return [self.host(n) for n in HOST_NAMES]

    @property
    def paths(self) -> StatePaths:
        return StatePaths(self.state_dir)

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["state_dir"] = str(self.state_dir)
        return data

    @classmethod
    def from_json(cls, data: dict) -> LabSettings:
        return cls(
            state_dir=Path(data["state_dir"]),
            domain=data["domain"],
            # A port this version does not know (a lab.json written by a newer pulltrace) is not ours to use.
            ports=_out_of_ephemeral(Ports(**{k: v for k, v in data["ports"].items() if k in _PORT_NAMES})),
            large=bool(data.get("large", False)),
            token_lifetime=int(data.get("token_lifetime", 300)),
            brief_lifetime=int(data.get("brief_lifetime", 4)),
        )

    def save(self) -> None:
        write_atomic(self.paths.settings, json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")


def state_dir_from_env(env: Mapping[str, str] | None = None) -> Path:
    values = os.environ if env is None else env
    return Path(values.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def load_settings(state_dir: Path | None = None) -> LabSettings | None:
    """The settings `lab up` saved in `state_dir`, or None when the lab was never brought up there."""
    state_dir = state_dir or state_dir_from_env()
    path = StatePaths(state_dir).settings
    try:
        if not path.exists():
            return None
        return LabSettings.from_json(json.loads(path.read_text()))
    except PermissionError:
        raise UserError(f"cannot read {path}: the lab's state dir belongs to root; run this as root") from None
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path} is damaged ({e}); fix or delete it, then run `pulltrace lab up`") from None


@dataclass(frozen=True)
class StatePaths:
    """The layout of the state dir. Kept shallow: dockerd and containerd sockets live here."""

    root: Path

    @property
    def settings(self) -> Path:
        return self.root / "lab.json"

    @property
    def images_json(self) -> Path:
        return self.root / "images.json"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def storage(self) -> Path:
        """Shared by hub, gcr, basic, harbor, plain: images are pushed once."""
        return self.root / "storage"

    @property
    def mirror_storage(self) -> Path:
        return self.root / "mirror-storage"

    @property
    def docker(self) -> Path:
        return self.root / "docker"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def pidfile(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def make(self) -> None:
        for d in (self.root, self.pki, self.logs, self.run, self.conf, self.storage, self.mirror_storage, self.docker):
            d.mkdir(parents=True, exist_ok=True)


def write_atomic(path: Path, text: str | bytes, mode: int | None = None) -> bool:
    """Write through a temp file + rename; returns False (and writes nothing) when unchanged."""
    data = text.encode() if isinstance(text, str) else text
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data, mode=mode)
    return True
