"""Messages between the addon and its worker process: length-prefixed pickles on a pipe.

Both ends are pulltrace of one installation (the addon starts the worker with its own
interpreter and package), so pickle is safe here and keeps the model's dataclasses as
they are. A frame is written whole by one thread; the reader gets None at end of file
and at a frame cut short (the other end died mid-write).
"""

from __future__ import annotations

import pickle
import struct
import threading
from typing import IO, Any

_LENGTH = struct.Struct("!I")


class FrameWriter:
    """Writes frames to a binary stream; safe to call from several threads."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        """One message; OSError (BrokenPipeError) when the other end is gone."""
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self.lock:
            self.out.write(_LENGTH.pack(len(data)) + data)
            self.out.flush()


def read_frame(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The next message, or None when the stream ended (cleanly or mid-frame)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = stream.read(length)
    if len(data) < length:
        return None
    message = pickle.loads(data)
    return message if isinstance(message, tuple) and message else None
