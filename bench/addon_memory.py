"""What a capture of days costs in memory: 100,000 exchanges through one mitmdump with the addon.

    .venv/bin/python bench/addon_memory.py [--exchanges 100000] [--concurrency 8]

The same traffic as bench/addon_longrun.py (eight clients at a time, each pull a ping, a
token, a manifest and per blob a 307 and the CDN download, a fresh connection pool and a
User-Agent per client), through one mitmdump with `-s addons/pulltrace.py` and the outputs
the README recommends for long captures (console and jsonl). The resident memory of
mitmdump and of any process it started is sampled every few thousand exchanges, so the
growth over 100,000 exchanges is measured, not extrapolated. Results go to
bench/RESULTS.md between the addon-memory markers.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results import write_section  # noqa: E402  (bench/, the script's own folder)

from bench.addon_longrun import ADDON, Puller, addon_summary, run_block  # noqa: E402
from devtools.mitmdump import Mitmdump, free_port, mitmdump_command  # noqa: E402
from pulltrace.lab import Lab  # noqa: E402

BEGIN, END = "<!-- addon-memory:begin -->", "<!-- addon-memory:end -->"


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (the addon may run work in a child)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(match.group(1)) / 1024 if match else 0.0
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            todo += [int(c) for c in task.read_text().split()]
    return total


class _Proxy:
    """The shape run_block needs: a started mitmdump, a request count and the time spent."""

    def __init__(self, mitmdump: Mitmdump) -> None:
        self.mitmdump = mitmdump
        self.seconds = 0.0
        self.latencies: list[float] = []
        self.requests = 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=100_000, help="requests to send after the warm-up")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=40, help="pulls before the first sample")
    parser.add_argument("--samples", type=int, default=20, help="RSS samples over the run")
    parser.add_argument("--minutes", type=float, default=0,
                        help="stop early after this long (the results say how many exchanges were measured)")
    parser.add_argument("--repository", default="library/tiny")
    parser.add_argument("--no-results", action="store_true", help="print, do not write bench/RESULTS.md")
    args = parser.parse_args(argv)
    lab = Lab.load()
    with tempfile.TemporaryDirectory(prefix="pulltrace-memory-") as tmp:
        work = Path(tmp)
        (work / "conf").mkdir()
        port = free_port()
        argv_ = mitmdump_command(port=port, confdir=work / "conf", upstream_ca=lab.ca_path, addon=ADDON,
                                 out=work / "out", outputs=("console", "jsonl"), options=["flow_detail=0"])
        log = work / "mitmdump.log"
        proxy = _Proxy(Mitmdump.start(argv_, log=log, port=port))
        ca = ssl.create_default_context(cafile=str(work / "conf" / "mitmproxy-ca-cert.pem"))
        puller = Puller(lab, ca, args.repository)
        samples: list[tuple[int, float]] = []
        started = time.perf_counter()
        try:
            run_block(proxy, puller, args.warmup, args.concurrency)  # type: ignore[arg-type]
            per_pull = max(1, proxy.requests // args.warmup)
            proxy.requests = 0
            samples.append((0, tree_rss_mib(proxy.mitmdump.pid)))
            step_pulls = max(1, args.exchanges // per_pull // args.samples)
            deadline = time.perf_counter() + args.minutes * 60 if args.minutes else float("inf")
            while proxy.requests < args.exchanges and time.perf_counter() < deadline:
                run_block(proxy, puller, step_pulls, args.concurrency)  # type: ignore[arg-type]
                samples.append((proxy.requests, tree_rss_mib(proxy.mitmdump.pid)))
                print(f"{proxy.requests:,} exchanges: RSS {samples[-1][1]:.1f} MiB", flush=True)
        finally:
            proxy.mitmdump.stop(timeout=900)
        wall = time.perf_counter() - started
        summary = addon_summary(log)
        jsonl = work / "out" / "pulltrace.jsonl"
        jsonl_mib = jsonl.stat().st_size / 2**20 if jsonl.exists() else 0.0
    first, last = samples[0], samples[-1]
    peak = max(m for _, m in samples)
    # The first samples hold mitmproxy's own start-up growth (certificates, pools, arenas).
    settled = samples[min(2, len(samples) - 1)]
    curve = " → ".join(f"{m:.0f}" for _, m in samples)
    intro = (
        f"{last[0]:,} exchanges ({last[0] // per_pull:,} pulls of `{args.repository}`, {per_pull} requests each, "
        f"{args.concurrency} at a time, after {args.warmup} warm-up pulls) through one mitmdump with "
        "`-s addons/pulltrace.py` and `pulltrace_outputs=console,jsonl` (what the README recommends for a capture "
        f"of days); CPython {platform.python_version()}, 2 cores, load average {os.getloadavg()[0]:.1f} at the end; "
        f"{wall / 60:.0f} min. RSS is mitmdump's and its children's, sampled every {step_pulls * per_pull:,} "
        "exchanges."
    )
    bullets = [
        f"RSS (MiB): {curve}.",
        f"Growth over the {last[0]:,} exchanges: **{last[1] - first[1]:+.1f} MiB** (target ≤ 100 MB over "
        f"100,000{'' if last[0] >= 100_000 else f'; this run was stopped at {args.minutes:.0f} min'}); from the "
        f"third sample on ({settled[0]:,} exchanges, mitmproxy's start-up growth done): "
        f"{last[1] - settled[1]:+.1f} MiB; peak {peak:.0f} MiB.",
        f"The addon saw {summary.get('exchanges', '?')} exchanges and closed {summary.get('pulls', '?')} sessions; "
        f"pulltrace.jsonl: {jsonl_mib:.1f} MiB ({jsonl_mib * 1024 / max(1, last[0] // per_pull):.1f} KiB a pull).",
    ]
    section = "\n".join([BEGIN, "## addon memory (bench/addon_memory.py)", "", intro, "",
                         *(f"- {b}" for b in bullets), END])
    if not args.no_results:
        write_section(section, BEGIN, END)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
