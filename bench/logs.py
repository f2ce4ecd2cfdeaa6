"""Reading a big registry log: bounded memory, linear time.

    .venv/bin/python bench/logs.py [--sizes 64,256,1024] [--keep DIR]

Builds logs of the given sizes (MiB) from real lab lines (the hub registry's log in
distribution's text format, with its combined access lines, and nginx's access log), each
copy of a line given a fresh request id so nothing is deduplicated away, then reads each
with `read_log` in a child process and records the time, the lines and exchanges per
second and the child's peak RSS (VmHWM). Flat RSS and a constant rate across sizes are the
claim. Results go to bench/RESULTS.md between the logs markers.

This measures the importer; building a trace of millions of exchanges is the engine's
work (`pulltrace.pipeline.build_trace` still holds them all).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import write_section  # bench/, the script's own folder

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- logs:begin -->", "<!-- logs:end -->"
LAB_LOGS = Path("/var/lib/pulltrace-lab/logs")
SOURCES = {"distribution": LAB_LOGS / "registry-hub.log", "pulltrace-lab": LAB_LOGS / "nginx-access.log"}
_SOURCE_TEXT = {"distribution": "the hub registry's distribution log with its combined access lines",
                "pulltrace-lab": "the lab nginx's access log"}
_ID_RE = re.compile(rb"http\.request\.id=([0-9a-f-]+)")

CHILD = r"""
import json, re, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from pulltrace.capture.logs import read_log
start, cpu = time.perf_counter(), time.process_time()
log = read_log(sys.argv[2], fmt=sys.argv[3])
n = sum(1 for _ in log.exchanges)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
hwm = int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(json.dumps({"seconds": elapsed, "cpu": cpu, "exchanges": n, "lines": log.lines,
                  "not_understood": log.not_understood, "rss_kib": hwm}))
"""


def build(source: Path, target: Path, size: int) -> None:
    """`size` bytes of `source`'s lines, repeated, each repetition with its own request ids."""
    lines = [line for line in source.read_bytes().splitlines(keepends=True) if line.strip()]
    written, copy = 0, 0
    with target.open("wb") as out:
        while written < size:
            copy += 1
            repl = b"http.request.id=\\g<1>-%d" % copy
            block = b"".join(_ID_RE.sub(repl, line) for line in lines)
            out.write(block)
            written += len(block)


def measure(path: Path, fmt: str) -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(path), fmt], capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout)


def write_results(text: str) -> None:
    write_section(f"{BEGIN}\n{text.rstrip()}\n{END}", BEGIN, END)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256,1024", help="log sizes in MiB, comma-separated")
    parser.add_argument("--formats", default="distribution,pulltrace-lab")
    parser.add_argument("--keep", type=Path, help="build the logs in DIR and keep them")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="pulltrace-bench-logs-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for fmt in args.formats.split(","):
            for mib in sizes:
                path = folder / f"{fmt}-{mib}m.log"
                if not path.exists() or path.stat().st_size < mib * 2**20:
                    build(SOURCES[fmt], path, mib * 2**20)
                got = measure(path, fmt)
                mb = path.stat().st_size / 2**20
                row = (fmt, mb, got)
                rows.append(row)
                print(f"{fmt} {mb:.0f} MiB: {got['seconds']:.1f} s ({got['cpu']:.1f} s CPU), "
                      f"{got['lines'] / got['cpu']:,.0f} lines per CPU second, "
                      f"{got['exchanges']:,} exchanges, peak RSS {got['rss_kib'] / 1024:.0f} MiB", flush=True)
                if not args.keep:
                    path.unlink()
    lines = [
        "## logs (bench/logs.py)",
        "",
        "`read_log` over logs built from real lab lines (" + "; ".join(_SOURCE_TEXT[f] for f in args.formats.split(","))
        + "), each read in a fresh process; "
        f"CPython {platform.python_version()}, "
        "2 shared cores with other work running (so wall time varies; CPU time is the process's own). "
        "Peak RSS is the reading process's VmHWM, interpreter included.",
        "",
        "| format | size | lines | exchanges | wall time | CPU time | lines per CPU s | µs CPU per line | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for fmt, mb, got in rows:
        lines.append(f"| {fmt} | {mb:,.0f} MiB | {got['lines']:,} | {got['exchanges']:,} | {got['seconds']:.1f} s | "
                     f"{got['cpu']:.1f} s | {got['lines'] / got['cpu']:,.0f} | "
                     f"{got['cpu'] / got['lines'] * 1e6:.0f} | {got['rss_kib'] / 1024:.0f} MiB |")
    lines.append("")
    lines.append(f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Lines are capped at 64 KiB; "
                 "the pairing windows (combined line ↔ app line, request ids) hold at most 4096 entries each.")
    write_results("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
