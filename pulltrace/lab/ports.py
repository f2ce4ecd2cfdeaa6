"""Who is listening on a TCP port or a unix socket, read from /proc (no `ss`/`lsof` needed)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"


@dataclass(frozen=True)
class Listener:
    port: int | str  # a TCP port, or a unix socket's path
    pid: int | None
    command: str

    def describe(self) -> str:
        who = f"{self.command} (pid {self.pid})" if self.pid else "another process"
        where = f"port {self.port}" if isinstance(self.port, int) else f"unix socket {self.port}"
        return f"{where} is already in use by {who}"


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _owner(inodes: set[str]) -> tuple[int | None, str]:
    wanted = {f"socket:[{i}]" for i in inodes}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                try:
                    if os.readlink(fd.path) in wanted:
                        comm = Path(f"/proc/{entry.name}/comm").read_text().strip()
                        return int(entry.name), comm
                except OSError:
                    continue
        except OSError:
            continue
    return None, "unknown"


def listener(port: int) -> Listener | None:
    """The process listening on `port` (any address), or None when the port is free."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    pid, command = _owner(inodes)
    return Listener(port, pid, command)


def _unix_inodes(path: Path) -> set[str]:
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return set()
    return {fields[6] for fields in (line.split() for line in lines) if len(fields) >= 8 and fields[7] == str(path)}


def claim_unix_socket(path: Path) -> Listener | None:
    """Make `path` free for a server to bind, or say who holds it. A server killed without its
    shutdown (SIGKILL, a session that ends) leaves its socket file behind, and the next one cannot
    bind it ("Address already in use") though nothing listens there: such a file is removed."""
    if not path.exists() and not path.is_symlink():
        return None
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1)
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)  # refused or not a socket: nobody is behind it
        return None
    finally:
        probe.close()
    pid, command = _owner(_unix_inodes(path))
    return Listener(str(path), pid, command)


def pids_of_tree(root: int) -> set[int]:
    """`root` and its descendants: a port held by a daemon's child is still the daemon's."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in out:
            out.add(pid)
            todo.extend(children.get(pid, []))
    return out
