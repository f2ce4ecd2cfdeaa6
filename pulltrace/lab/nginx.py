"""The lab's one nginx: TLS for every hostname, the CDNs, and the rewrites real registries do."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import jinja2

from pulltrace.lab import faults, slow
from pulltrace.lab.pki import Pki
from pulltrace.lab.settings import HOST_NAMES, LabSettings

NGINX = "/usr/sbin/nginx"


def render(s: LabSettings, pki: Pki) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pulltrace.lab", "conf"),
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
    )
    paths = s.paths
    # The certificate's digest is in the text, so a re-issued certificate reloads nginx.
    cert_digest = hashlib.sha256(pki.server_cert.read_bytes()).hexdigest()[:16] if pki.server_cert.exists() else "-"
    return env.get_template("nginx.conf.j2").render(
        run=paths.run, logs=paths.logs, storage=paths.storage, mirror_storage=paths.mirror_storage,
        cert=pki.server_cert, key=pki.server_key, tls_port=s.ports.tls, ports=s.ports,
        hosts={n: s.host(n) for n in HOST_NAMES},
        proxy_base=s.https_base("proxy"), cdn_base=s.https_base("cdn"), cert_digest=cert_digest,
        base={n: s.https_base(n) for n in HOST_NAMES}, cdn_base_re=_regex(s.https_base("cdn")),
        fault=_fault_values(), slow=slow.nginx_values(s),
    )


def _regex(url: str) -> str:
    """`https://cdn\\.pulltrace\\.test` for an nginx regex (a port's colon needs no escape)."""
    return url.replace(".", "\\.")


def _quoted(text: str) -> str:
    """`text` as an nginx single-quoted string."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _fault_values() -> dict[str, str]:
    return {
        "rate_limit": faults.RATE_LIMIT,
        "quota_remaining": faults.remaining(faults.QUOTA_REMAINING),
        "spent_remaining": faults.remaining(0),
        "retry_after": str(faults.RETRY_AFTER),
        "too_many_requests": _quoted(faults.too_many_requests_body()),
        "expired_query": faults.EXPIRED_QUERY,
        "expired_body": _quoted(faults.expired_body()),
    }


def argv(conf: Path, prefix: Path, error_log: Path) -> list[str]:
    # `daemon off`: the pid we record is nginx's master; -e so even start-up errors land in the state dir.
    return [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(error_log), "-g", "daemon off;"]


def check(conf: Path, prefix: Path, error_log: Path) -> str | None:
    """`nginx -t`: None when the configuration is valid, else nginx's first complaint."""
    proc = subprocess.run([NGINX, "-t", "-q", "-p", str(prefix), "-c", str(conf), "-e", str(error_log)],
                          capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    return lines[0] if lines else f"nginx -t exited {proc.returncode}"
