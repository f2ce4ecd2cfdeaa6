"""A probe for bench/addon_longrun.py: how late mitmproxy's event loop wakes up.

    mitmdump -s bench/looplag.py --set looplag_out=lag.json

Every 10 ms it sleeps on the loop and notes how much later than asked it woke: a callback
that holds the loop (a slow hook, or another thread holding the GIL) shows here as the
delay every request waiting on the loop suffered. Loaded in both mitmdumps of the bench,
with and without the addon, so the difference is what the addon costs the loop.

It also times the interpreter's garbage collections (gc.callbacks): a full collection of a
process holding mitmproxy's objects stops every thread, the loop and any hook running on it,
for as long as it takes, whoever allocated last.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from pathlib import Path
from typing import Any

from mitmproxy import ctx

INTERVAL_S = 0.01


class LoopLag:
    def __init__(self) -> None:
        self.lags: list[float] = []
        self.task: asyncio.Task[None] | None = None
        self.gc_pauses: list[float] = []
        self._gc_started = 0.0

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            self.gc_pauses.append(time.perf_counter() - self._gc_started)

    def load(self, loader: Any) -> None:
        loader.add_option("looplag_out", str, "", "Where to write the loop-lag summary (JSON) on shutdown.")

    def running(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.probe())
        gc.callbacks.append(self._gc)

    async def probe(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(INTERVAL_S)
            self.lags.append(time.perf_counter() - start - INTERVAL_S)

    def done(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if not ctx.options.looplag_out or not self.lags:
            return
        lags = sorted(self.lags)

        def pct(p: float) -> float:
            return round(lags[min(len(lags) - 1, int(p * len(lags)))] * 1000, 2)

        Path(ctx.options.looplag_out).write_text(json.dumps({
            "samples": len(lags), "max_ms": round(lags[-1] * 1000, 2), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "p999_ms": pct(0.999), "over_50ms": sum(1 for x in lags if x > 0.05),
            "gc_max_ms": round(max(self.gc_pauses, default=0.0) * 1000, 2),
            "gc_over_50ms": sum(1 for x in self.gc_pauses if x > 0.05),
            "gc_total_s": round(sum(self.gc_pauses), 2),
            # What a full collection walks: the objects the interpreter tracks, at the end of the run.
            "gc_objects": len(gc.get_objects()),
        }))


addons = [LoopLag()]
