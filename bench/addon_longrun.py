"""What the addon costs a proxy that runs for a long time: thousands of small pulls through mitmdump.

    .venv/bin/python bench/addon_longrun.py [--pulls 2000] [--blocks 20] [--concurrency 8]

Two mitmdumps run side by side on one lab: one with `-s addons/pulltrace.py`, one without.
Eight clients at a time pull the lab's `library/tiny` from hub through each: ping (401),
token, manifest, and per blob a 307 to the CDN and the download, each client with a
fresh connection pool per pull (as a new `docker pull` has) and a User-Agent of its own
(as eight machines would be eight clients). Blocks alternate which proxy goes first.

Measured: total time of each proxy's pulls; per-request latency (p50, p99, max) as the
clients saw it; how late each mitmdump's event loop woke (bench/looplag.py, loaded in
both: the difference is what pulltrace costs a request waiting on the loop); the addon's
own slowest hook; mitmdump's RSS after a warm-up and after each block, extrapolated to
100,000 exchanges. Results go to bench/RESULTS.md between the addon-longrun markers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import ssl
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar
from urllib.parse import urljoin

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results import write_section  # noqa: E402  (bench/, the script's own folder)

from devtools.mitmdump import Mitmdump, free_port, mitmdump_command  # noqa: E402
from pulltrace.lab import Lab  # noqa: E402
from pulltrace.lab.ports import pids_of_tree  # noqa: E402

ADDON = ROOT / "addons" / "pulltrace.py"
LOOPLAG = ROOT / "bench" / "looplag.py"
BEGIN, END = "<!-- addon-longrun:begin -->", "<!-- addon-longrun:end -->"
ACCEPT = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
_PARAM = re.compile(r'(\w+)="([^"]*)"')
T = TypeVar("T")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (robust to other work on the machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def steal_s() -> float:
    """CPU time the hypervisor gave other guests while this machine wanted it (/proc/stat's steal):
    a slow period of the host lands on whichever proxy's block was running."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match
    return int(match.group(1)) / 1024


def children_cpu_rss(pid: int) -> tuple[float, float]:
    """CPU seconds and RSS of a process's descendants: pulltrace's worker process."""
    cpu = rss = 0.0
    for child in pids_of_tree(pid) - {pid}:
        try:
            cpu, rss = cpu + cpu_s(child), rss + rss_mib(child)
        except (OSError, AssertionError):
            continue  # ended between the listing and the read
    return cpu, rss


class Proxy:
    """One mitmdump (with or without the addon), the loop-lag probe in both."""

    def __init__(self, name: str, lab: Lab, work: Path, addon: bool) -> None:
        self.name, self.addon, self.port = name, addon, free_port()
        self.out = work / name
        self.lag = work / f"{name}-lag.json"
        options = ["flow_detail=0"] + (["pulltrace_idle=3"] if addon else [])
        argv = mitmdump_command(port=self.port, confdir=work / "conf", upstream_ca=lab.ca_path, addon=ADDON,
                                out=self.out, outputs=("console", "jsonl", "json"), with_addon=addon,
                                options=options)
        argv += ["-s", str(LOOPLAG), "--set", f"looplag_out={self.lag}"]
        self.log = work / f"{name}.log"
        self.mitmdump = Mitmdump.start(argv, log=self.log, port=self.port)
        self.seconds = 0.0
        self.blocks: list[float] = []  # seconds of each measured block
        self.steal = 0.0
        self.latencies: list[float] = []
        self.requests = 0
        self.rss: list[tuple[int, float]] = []  # (requests so far, MiB)
        self.cpu: list[float] = []
        # pulltrace's worker process (the addon's recorder), a child of mitmdump.
        self.worker_rss: list[float] = []
        self.worker_cpu: list[float] = []

    def sample_rss(self) -> None:
        self.rss.append((self.requests, rss_mib(self.mitmdump.pid)))
        self.cpu.append(cpu_s(self.mitmdump.pid))
        cpu, rss = children_cpu_rss(self.mitmdump.pid)
        self.worker_cpu.append(cpu)
        self.worker_rss.append(rss)

    @property
    def cpu_ms_per_request(self) -> float:
        return (self.cpu[-1] - self.cpu[0]) * 1000 / max(1, self.requests)

    @property
    def worker_cpu_ms_per_request(self) -> float:
        return (self.worker_cpu[-1] - self.worker_cpu[0]) * 1000 / max(1, self.requests)

    def stop(self) -> None:
        self.mitmdump.stop(timeout=600)


class Puller:
    """A small registry client: the token dance and the CDN redirects, every request timed."""

    def __init__(self, lab: Lab, ca: ssl.SSLContext, repository: str) -> None:
        self.hub = lab.host("hub")
        self.ca = ca
        self.repository = repository

    def pull(self, proxy: str, user_agent: str) -> list[float]:
        times: list[float] = []
        with httpx.Client(proxy=proxy, verify=self.ca, headers={"User-Agent": user_agent}, timeout=120) as http:

            def get(url: str, **kw: object) -> httpx.Response:
                start = time.perf_counter()
                r = http.get(url, **kw)  # type: ignore[arg-type]
                times.append(time.perf_counter() - start)
                return r

            base = f"https://{self.hub}/v2/"
            ping = get(base)
            params = dict(_PARAM.findall(ping.headers["www-authenticate"]))
            token = get(params["realm"], params={"service": params.get("service", ""),
                                                  "scope": f"repository:{self.repository}:pull"}).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            manifest = get(f"{base}{self.repository}/manifests/latest", headers={**auth, "Accept": ACCEPT})
            manifest.raise_for_status()
            body = manifest.json()
            for digest in [body["config"]["digest"]] + [layer["digest"] for layer in body["layers"]]:
                url = f"{base}{self.repository}/blobs/{digest}"
                r = get(url, headers=auth)
                if r.status_code in (301, 302, 303, 307, 308):
                    r = get(urljoin(url, r.headers["location"]))  # the CDN: no Authorization
                r.raise_for_status()
                if "sha256:" + hashlib.sha256(r.content).hexdigest() != digest:
                    raise RuntimeError(f"{digest}: the bytes do not match")
        return times


def run_block(proxy: Proxy, puller: Puller, pulls: int, concurrency: int) -> None:
    lock = threading.Lock()
    counter = iter(range(pulls))

    def client(n: int) -> None:
        ua = f"pulltrace-bench/1.0 (client {n})"
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            times = puller.pull(proxy.mitmdump.url, ua)
            with lock:
                proxy.latencies.extend(times)
                proxy.requests += len(times)

    start, stolen = time.perf_counter(), steal_s()
    with ThreadPoolExecutor(concurrency) as pool:
        for f in [pool.submit(client, n) for n in range(concurrency)]:
            f.result()
    took = time.perf_counter() - start
    proxy.seconds += took
    proxy.blocks.append(took)
    proxy.steal += steal_s() - stolen


def spaced(samples: list[T], most: int = 7) -> list[T]:
    """At most `most` samples, evenly spaced, the first and the last kept: a table cell stays readable."""
    if len(samples) <= most:
        return samples
    return [samples[round(i * (len(samples) - 1) / (most - 1))] for i in range(most)]


def count(n: object) -> str:
    return f"{n:,}" if isinstance(n, int) else "?"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def addon_summary(log: Path) -> dict[str, float]:
    text = log.read_text(errors="replace")
    match = re.search(r"pulltrace: (\d+) exchanges, (\d+) pulls; slowest hook ([\d.]+) ms \(([\d.]+) ms CPU; "
                      r"([\d.]+) ms with the interpreter's garbage collection\), longest queue wait (\d+) ms", text)
    if not match:
        return {}
    return {"exchanges": int(match.group(1)), "pulls": int(match.group(2)), "slowest_hook_ms": float(match.group(3)),
            "slowest_hook_cpu_ms": float(match.group(4)), "slowest_hook_gc_ms": float(match.group(5)),
            "queue_wait_ms": float(match.group(6))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pulls", type=int, default=2000, help="pulls through each proxy (after the warm-up)")
    # Short blocks: the host's slow periods (other guests, steal time) then fall on both proxies.
    parser.add_argument("--blocks", type=int, default=20, help="alternating blocks the pulls are split into")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=40, help="pulls through each proxy before measuring")
    parser.add_argument("--repository", default="library/tiny")
    parser.add_argument("--no-results", action="store_true", help="print, do not write bench/RESULTS.md")
    args = parser.parse_args(argv)
    lab = Lab.load()
    with tempfile.TemporaryDirectory(prefix="pulltrace-longrun-") as tmp:
        work = Path(tmp)
        (work / "conf").mkdir()
        with_addon = Proxy("addon", lab, work, addon=True)
        plain = Proxy("plain", lab, work, addon=False)
        ca = ssl.create_default_context(cafile=str(work / "conf" / "mitmproxy-ca-cert.pem"))
        puller = Puller(lab, ca, args.repository)
        try:
            for proxy in (with_addon, plain):
                run_block(proxy, puller, args.warmup, args.concurrency)
                proxy.seconds, proxy.latencies, proxy.requests, proxy.blocks, proxy.steal = 0.0, [], 0, [], 0.0
                proxy.sample_rss()
            per_block = args.pulls // args.blocks
            for b in range(args.blocks):
                order = (plain, with_addon) if b % 2 == 0 else (with_addon, plain)
                for proxy in order:
                    run_block(proxy, puller, per_block, args.concurrency)
                    proxy.sample_rss()
                    print(f"block {b + 1}: {proxy.name} {proxy.seconds:.1f} s so far, {proxy.requests} requests, "
                          f"RSS {proxy.rss[-1][1]:.1f} MiB", flush=True)
        finally:
            stop_started = time.perf_counter()
            with_addon.stop()
            stop_s = time.perf_counter() - stop_started
            plain.stop()
        lag = {p.name: json.loads(p.lag.read_text()) if p.lag.exists() else {} for p in (with_addon, plain)}
        summary = addon_summary(with_addon.log)
        jsonl = with_addon.out / "pulltrace.jsonl"
        sessions = [json.loads(line) for line in jsonl.read_text().splitlines()[1:]] if jsonl.exists() else []
        pull_sessions = sum(1 for s in sessions if s.get("action") == "pull")
        jsonl_mib = jsonl.stat().st_size / 2**20 if jsonl.exists() else 0.0
    pulls = per_block * args.blocks
    ratio = with_addon.seconds / plain.seconds
    growth = with_addon.rss[-1][1] - with_addon.rss[0][1]
    measured = with_addon.rss[-1][0] - with_addon.rss[0][0]
    per_100k = growth / measured * 100_000 if measured else 0.0
    plain_growth = plain.rss[-1][1] - plain.rss[0][1]
    # mitmproxy itself grows at first (certificates, connection pools, allocator arenas), with or
    # without the addon; the slope from the first block's end on is what a long capture adds.
    steady = with_addon.rss[-1][1] - with_addon.rss[1][1] if len(with_addon.rss) > 2 else growth
    steady_n = with_addon.rss[-1][0] - with_addon.rss[1][0] if len(with_addon.rss) > 2 else measured
    steady_plain = plain.rss[-1][1] - plain.rss[1][1] if len(plain.rss) > 2 else plain_growth
    steady_100k = steady / steady_n * 100_000 if steady_n else 0.0
    rows = "\n".join(
        f"| {p.name} | {p.seconds:.1f} s | {p.requests:,} | {p.requests / p.seconds:.0f}/s "
        f"| {pct(p.latencies, 0.5) * 1000:.1f} ms | {pct(p.latencies, 0.99) * 1000:.1f} ms "
        f"| {max(p.latencies) * 1000:.0f} ms | {lag[p.name].get('p99_ms', '?')} ms "
        f"| {lag[p.name].get('max_ms', '?')} ms | {p.cpu_ms_per_request:.2f} ms "
        f"| {p.worker_cpu_ms_per_request:.2f} ms "
        f"| {' → '.join(f'{m:.0f}' for _, m in spaced(p.rss))} "
        f"| {' → '.join(f'{m:.0f}' for m in spaced(p.worker_rss))} |"
        for p in (with_addon, plain)
    )
    pairs = sorted(a / b for a, b in zip(with_addon.blocks, plain.blocks, strict=True))
    pair_median = pairs[len(pairs) // 2] if pairs else 0.0
    cpu_ratio = with_addon.cpu_ms_per_request / plain.cpu_ms_per_request
    machine_ratio = (with_addon.cpu_ms_per_request + with_addon.worker_cpu_ms_per_request) / plain.cpu_ms_per_request
    loop_extra = (lag["addon"].get("max_ms", 0) or 0) - (lag["plain"].get("max_ms", 0) or 0)
    intro = (
        f"{pulls:,} pulls of `{args.repository}` through each of two mitmdumps (with `-s addons/pulltrace.py`, "
        f"outputs console, jsonl and json; and without), {args.concurrency} at a time, in {args.blocks} "
        f"alternating blocks after {args.warmup} warm-up pulls each; each pull is ping → token → manifest → per "
        f"blob a 307 and the CDN download ({with_addon.requests // max(pulls, 1)} requests), a fresh connection "
        "pool per pull, a User-Agent per client; httpx clients, mitmdump 11, nginx, the registry and the token "
        f"service all on this machine (CPython {platform.python_version()}, 2 cores; load average "
        f"{os.getloadavg()[0]:.1f} at the end). "
        "Engine: the incremental `pulltrace/engine.py` in pulltrace's worker process, a child of mitmdump (each "
        "exchange classified and grouped once, on arrival; a pull diagnosed, appended to the jsonl and forgotten "
        "when it closes); the proxy's process turns flows into Exchanges and sends them over in batches."
    )
    head = ("| proxy | total | requests | rate | p50 | p99 | max | loop lag p99 | loop lag max "
            "| mitmdump CPU/request | worker CPU/request | RSS (MiB) | worker RSS (MiB) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    bullets = [
        f"Total-time ratio with/without the addon: **{ratio:.3f}** (target ≤ 1.10); mitmdump's own CPU time "
        f"per request, with/without: **{cpu_ratio:.3f}** (what the addon costs the proxy's process); with the "
        f"worker's CPU added: **{machine_ratio:.3f}** (what it costs the machine). Block by block (each "
        f"addon block against the plain block beside it): median {pair_median:.3f}, from {pairs[0]:.3f} to "
        f"{pairs[-1]:.3f}; the host took {with_addon.steal:.1f} s of CPU away (steal) during the addon's blocks "
        f"and {plain.steal:.1f} s during the plain ones.",
        f"Delay attributable to pulltrace: its slowest hook held the loop **{summary.get('slowest_hook_ms', '?')} "
        f"ms** of wall time ({summary.get('slowest_hook_cpu_ms', '?')} ms of its own CPU), "
        f"{summary.get('slowest_hook_gc_ms', '?')} ms with the interpreter's garbage collections that landed in "
        f"it (the longest collection: {lag['addon'].get('gc_max_ms', '?')} ms with the addon, "
        f"{lag['plain'].get('gc_max_ms', '?')} ms without; collections over 50 ms: "
        f"{lag['addon'].get('gc_over_50ms', '?')} with, {lag['plain'].get('gc_over_50ms', '?')} without; "
        f"objects a full collection walks at the end: {count(lag['addon'].get('gc_objects'))} with, "
        f"{count(lag['plain'].get('gc_objects'))} without); the "
        f"loop's worst wake-up was {lag['addon'].get('max_ms', '?')} ms with the addon and "
        f"{lag['plain'].get('max_ms', '?')} ms without ({loop_extra:+.1f} ms; wake-ups later than 50 ms: "
        f"{lag['addon'].get('over_50ms', '?')} with, {lag['plain'].get('over_50ms', '?')} without). Target: no "
        f"request delayed by pulltrace more than 50 ms. An exchange waited at most "
        f"{summary.get('queue_wait_ms', '?')} ms in the recorder's queue (off the loop; nobody waits for it).",
        f"Memory: mitmdump with the addon grew {growth:+.1f} MiB over {measured:,} requests after the warm-up "
        f"(without: {plain_growth:+.1f} MiB): **{per_100k:+.0f} MiB per 100,000 exchanges** extrapolated "
        f"linearly from this run (target ≤ 100 MB; this run measured {measured:,}, not 100,000). From the end of "
        f"the first block on (mitmproxy's own start-up growth done): {steady:+.1f} MiB over {steady_n:,} requests "
        f"(without the addon: {steady_plain:+.1f} MiB), **{steady_100k:+.0f} MiB per 100,000**.",
        f"The addon saw {summary.get('exchanges', '?')} exchanges and closed {summary.get('pulls', '?')} sessions "
        f"({pull_sessions} of them pulls; {pulls + args.warmup} pulls were made); pulltrace.jsonl: "
        f"{jsonl_mib:.1f} MiB. Shutdown (drain, close, exit reports from the jsonl): {stop_s:.1f} s.",
    ]
    section = "\n".join([BEGIN, "## addon long run (bench/addon_longrun.py)", "", intro, "", head, rows, "",
                         *(f"- {b}" for b in bullets), END])
    if not args.no_results:
        write_section(section, BEGIN, END)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
