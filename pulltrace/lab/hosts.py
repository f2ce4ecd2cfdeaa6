"""The lab's block in /etc/hosts: every lab hostname → 127.0.0.1, between two marker lines.

Go programs do not send loopback requests through HTTP(S)_PROXY, but they do proxy a
request to `hub.pulltrace.test`: named hosts are what make the lab capturable.
"""

from __future__ import annotations

from pathlib import Path

HOSTS_FILE = Path("/etc/hosts")
BEGIN = "# BEGIN pulltrace-lab (managed by `pulltrace lab`; removed by `pulltrace lab down`)"
END = "# END pulltrace-lab"


def render_block(hostnames: list[str], address: str = "127.0.0.1") -> str:
    return "\n".join([BEGIN, *(f"{address} {name}" for name in hostnames), END]) + "\n"


def remove_block(text: str) -> str:
    """`text` without the lab's block (and without the blank line it would leave)."""
    out: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("# BEGIN pulltrace-lab"):
            inside = True
            continue
        if inside:
            if stripped == END:
                inside = False
            continue
        out.append(line)
    return "".join(out)


def with_block(text: str, block: str) -> str:
    """`text` with exactly one lab block, at the end; idempotent."""
    base = remove_block(text)
    if base and not base.endswith("\n"):
        base += "\n"
    return base + block


def _write_in_place(path: Path, text: str) -> None:
    # /etc/hosts is often a bind mount in containers: rename over it fails, rewriting works.
    with path.open("r+") as f:
        f.seek(0)
        f.write(text)
        f.truncate()


def install(hostnames: list[str], path: Path = HOSTS_FILE) -> bool:
    """Add or refresh the block; True when the file changed."""
    text = path.read_text()
    new = with_block(text, render_block(hostnames))
    if new == text:
        return False
    _write_in_place(path, new)
    return True


def uninstall(path: Path = HOSTS_FILE) -> bool:
    text = path.read_text()
    new = remove_block(text)
    if new == text:
        return False
    _write_in_place(path, new)
    return True
