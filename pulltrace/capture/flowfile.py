"""`-w` flow files that keep pulltrace's names (comment, mark, `metadata["pulltrace"]`).

mitmproxy's Save addon (`-w`, `save_stream_file`) writes each HTTP flow in its `response`
hook. pulltrace names a flow only when its pull closes (the step number, the layer and the
pull are known then), so a flow written at its response would carry no name. mitmproxy has
no hook to hold a flow back from Save; but a script's hooks run before Save's (the script
loader comes first in mitmproxy's addon chain), so the addon holds each flow it recorded
here, Save's `save_flow` skips held flows, and a held flow is handed to Save's own
`save_flow` once it is named. The file, its rotation and `save_stream_filter` stay Save's:
the filter even sees the names (`--set save_stream_filter='~comment "pull "'`).

The proxy does not wait: a held flow is one the client already has, writing it later is the
work Save would have done at its response, and its blob body was streamed and never kept.
Held flows are bounded; past the bound, and for flows whose pull never closes, the oldest
is written unnamed rather than lost. Flows are written in the order their pulls close.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from mitmproxy import ctx, flow

log = logging.getLogger("pulltrace")

# Flows held for their names at most: far more than the pulls in flight hold (a pull of a
# 30-layer image is about 70 flows), and small ones (their blob bodies were streamed).
HELD_FLOWS = 10_000


class FlowFileHold:
    """Holds recorded flows back from mitmproxy's Save addon until pulltrace names them."""

    def __init__(self, limit: int = HELD_FLOWS) -> None:
        self.limit = limit
        self.held: OrderedDict[str, flow.Flow] = OrderedDict()
        self.save: Any = None
        self.write: Callable[[flow.Flow], None] | None = None  # Save's own save_flow
        self.overflowed = False
        self.told = False  # the addon said once that this mitmproxy cannot be held back

    def attach(self, addons: Any) -> bool:
        """Put the hold in front of the Save addon of `addons` (mitmproxy's AddonManager)."""
        if self.save is not None:
            return True
        save = addons.get("save")
        write = getattr(save, "save_flow", None)
        if save is None or not callable(write):
            return False
        self.save, self.write = save, write
        save.save_flow = self._save_flow
        return True

    def detach(self) -> None:
        """Write what is still held (unnamed) and give Save its own save_flow back."""
        self.release_all()
        save: Any = self.save
        if save is not None and save.__dict__.get("save_flow") == self._save_flow:
            if getattr(self.write, "__self__", None) is save:
                delattr(save, "save_flow")  # the class's method again
            else:
                save.save_flow = self.write  # another wrapper was there before us
        self.save = self.write = None

    def saving(self) -> bool:
        return self.write is not None and bool(getattr(ctx.options, "save_stream_file", None))

    def hold(self, f: flow.Flow) -> None:
        """Keep `f` out of the flow file until `release(f)`; call before Save's response hook."""
        if not self.saving() or getattr(f, "websocket", None) is not None:
            return  # Save writes a WebSocket flow at its end, not at its response
        self.held[f.id] = f
        if len(self.held) > self.limit:
            _, oldest = self.held.popitem(last=False)
            if not self.overflowed:
                self.overflowed = True
                log.warning("pulltrace: more than %d flows wait for their pull to close; the oldest go to the "
                            "flow file unnamed", self.limit)
            self._write(oldest)

    def release(self, f: flow.Flow) -> None:
        """`f` is named (or will never be): write it now if it was held."""
        if self.held.pop(f.id, None) is not None:
            self._write(f)

    def release_all(self) -> None:
        while self.held:
            _, f = self.held.popitem(last=False)
            self._write(f)

    def _write(self, f: flow.Flow) -> None:
        if self.write is not None:
            self.write(f)

    def _save_flow(self, f: flow.Flow) -> None:
        if f.id not in self.held:
            assert self.write is not None
            self.write(f)
        # else: written by release() once named
