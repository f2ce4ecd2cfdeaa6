"""The lab's block in /etc/hosts: every lab hostname → 127.0.0.1, between two marker lines.

Go programs do not send loopback requests through HTTP(S)_PROXY, but they do proxy a
request to `hub.pulltrace.test`: named hosts are what make the lab capturable.
"""

from __future__ import annotations

from pathlib import Path

HOSTS_FILE = Path("/etc/hosts")


# One block per lab domain, so two labs (two state dirs) can run side by side.
def _begin(domain: str) -> str:
    return f"# BEGIN pulltrace-lab {domain} (managed by `pulltrace lab`; removed by `pulltrace lab down`)"


def _end(domain: str) -> str:
    return f"# END pulltrace-lab {domain}"


def render_block(domain: str, hostnames: list[str], address: str = "127.0.0.1") -> str:
    return "\n".join([_begin(domain), *(f"{address} {name}" for name in hostnames), _end(domain)]) + "\n"


def remove_block(text: str, domain: str) -> str:
    """`text` without this domain's block."""
    out: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(f"# BEGIN pulltrace-lab {domain} "):
            inside = True
            continue
        if inside:
            if stripped == _end(domain):
                inside = False
            continue
        out.append(line)
    return "".join(out)


def with_block(text: str, domain: str, block: str) -> str:
    """`text` with exactly one block for `domain`, at the end; idempotent."""
    base = remove_block(text, domain)
    if base and not base.endswith("\n"):
        base += "\n"
    return base + block


def _write_in_place(path: Path, text: str) -> None:
    # /etc/hosts is often a bind mount in containers: rename over it fails, rewriting works.
    with path.open("r+") as f:
        f.seek(0)
        f.write(text)
        f.truncate()


def install(domain: str, hostnames: list[str], path: Path = HOSTS_FILE) -> bool:
    """Add or refresh the block; True when the file changed."""
    text = path.read_text()
    new = with_block(text, domain, render_block(domain, hostnames))
    if new == text:
        return False
    _write_in_place(path, new)
    return True


def uninstall(domain: str, path: Path = HOSTS_FILE) -> bool:
    text = path.read_text()
    new = remove_block(text, domain)
    if new == text:
        return False
    _write_in_place(path, new)
    return True
