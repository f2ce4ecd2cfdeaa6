"""Bytes relayed between two sockets, both ways, for the tests' network stand-ins (a CONNECT
proxy, a door that drops a SYN): each direction on a thread of its own until either side ends."""

from __future__ import annotations

import socket
import threading


def relay(a: socket.socket, b: socket.socket) -> None:
    """Copy a → b and b → a in the background; both are shut down when either direction ends."""
    for src, dst in ((a, b), (b, a)):
        threading.Thread(target=_pipe, args=(src, dst), daemon=True).start()


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
