"""What the addon costs a real pull: `docker pull` of the lab's large image through mitmdump.

    .venv/bin/python bench/capture.py [--rounds 3]

Needs a lab brought up with `pulltrace lab up --large`. Two mitmdumps run side by side:
one with the pulltrace addon (and nothing else: the addon streams blobs itself), one
without it but with `stream_large_bodies=1m` (what a careful user runs anyway). Each has
its own lab dockerd (a daemon reads its proxy at start). Rounds alternate which goes
first. Memory is mitmdump's peak RSS (VmHWM) after a tiny pull and after the large
pulls: flat means the addon holds no blob. Results go to bench/RESULTS.md between the
capture markers.
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from results import write_section  # noqa: E402  (bench/, the script's own folder)

from devtools.mitmdump import Mitmdump, free_port, mitmdump_command  # noqa: E402
from pulltrace.lab import Lab  # noqa: E402
from pulltrace.lab.docker import stop_docker  # noqa: E402

ADDON = ROOT / "addons" / "pulltrace.py"
BEGIN, END = "<!-- capture:begin -->", "<!-- capture:end -->"


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


class Proxy:
    def __init__(self, name: str, lab: Lab, work: Path, addon: bool) -> None:
        self.name, self.port = name, free_port()
        if addon:
            # The addon alone: it streams blobs itself.
            argv = mitmdump_command(port=self.port, confdir=work / "conf", upstream_ca=lab.ca_path, quiet=True,
                                    addon=ADDON, out=work / name, outputs=("json",))
        else:
            argv = mitmdump_command(port=self.port, confdir=work / "conf", upstream_ca=lab.ca_path, quiet=True,
                                    with_addon=False, options=("stream_large_bodies=1m",))
        self.mitmdump = Mitmdump.start(argv, log=work / f"{name}.log", port=self.port)
        self.daemon = lab.docker(f"bench-{name}", proxy=self.mitmdump.url)

    def reset(self) -> None:
        self.daemon.forget_images()

    def pull(self, ref: str) -> float:
        self.reset()
        start = time.perf_counter()
        self.daemon.docker("pull", ref)
        return time.perf_counter() - start

    def stop(self) -> None:
        self.mitmdump.stop(timeout=60)
        # The daemon exists only for this benchmark's proxy: do not leave it running.
        stop_docker(self.daemon.settings, self.daemon.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    lab = Lab.load()
    if "library/large" not in lab.images:
        print("bench/capture.py: the lab has no large image; run `pulltrace lab up --large` first", file=sys.stderr)
        return 1
    large = lab.images["library/large"]
    size_mib = (large.config_size + sum(layer.size for layer in large.layers)) / 2**20
    ref = f"{lab.host('hub')}/library/large"
    with tempfile.TemporaryDirectory(prefix="pulltrace-bench-") as tmp:
        work = Path(tmp)
        (work / "conf").mkdir()
        with_addon = Proxy("addon", lab, work, addon=True)
        plain = Proxy("plain", lab, work, addon=False)
        try:
            with_addon.pull(f"{lab.host('hub')}/library/tiny")
            rss_after_tiny = peak_rss_mib(with_addon.mitmdump.pid)
            times: dict[str, list[float]] = {"addon": [], "plain": []}
            for n in range(args.rounds):
                order = (with_addon, plain) if n % 2 == 0 else (plain, with_addon)
                for proxy in order:
                    times[proxy.name].append(proxy.pull(ref))
                    print(f"round {n + 1}: {proxy.name} {times[proxy.name][-1]:.2f} s", flush=True)
            rss_addon = peak_rss_mib(with_addon.mitmdump.pid)
            rss_plain = peak_rss_mib(plain.mitmdump.pid)
        finally:
            with_addon.reset()
            plain.reset()
            with_addon.stop()
            plain.stop()
        trace_ok = (work / "addon" / "pulltrace.json").exists()
    med_a, med_p = statistics.median(times["addon"]), statistics.median(times["plain"])
    # Rounds are paired (same moment, same machine load): the median of per-round ratios
    # resists another process stealing a core during one pull.
    ratio = statistics.median(a / p for a, p in zip(times["addon"], times["plain"], strict=True))
    total_ratio = sum(times["addon"]) / sum(times["plain"])
    rows = "\n".join(
        f"| {n + 1} | {a:.2f} s | {p:.2f} s | {a / p:.3f} |"
        for n, (a, p) in enumerate(zip(times["addon"], times["plain"], strict=True))
    )
    trace_written = "yes" if trace_ok else "NO"
    section = (
        f"{BEGIN}\n"
        "## capture (bench/capture.py)\n"
        "\n"
        f"`docker pull` of the lab's large image ({size_mib:.0f} MiB: {len(large.layers)} layers"
        " through hub's 307 to the CDN), dockerd 20.10 → mitmdump → nginx → registry/CDN on this machine;"
        f" CPython {platform.python_version()}, 2 shared cores, {args.rounds} rounds alternating which proxy"
        " goes first. Baseline: mitmdump without the addon and `stream_large_bodies=1m`; addon: mitmdump with"
        " `-s addons/pulltrace.py` only (it streams blobs itself).\n"
        "\n"
        "| round | with addon | without (streaming) | ratio |\n"
        "|---|---|---|---|\n"
        f"{rows}\n"
        "\n"
        f"Median: {med_a:.2f} s with the addon, {med_p:.2f} s without; median of the per-round ratios"
        f" **{ratio:.3f}**, ratio of the totals {total_ratio:.3f} (target ≤ 1.05). The addon hashes every blob"
        " (sha256) on a background thread while mitmproxy forwards the bytes.\n"
        f"Peak RSS of mitmdump with the addon: {rss_after_tiny:.0f} MiB after pulling tiny (2 KiB),"
        f" {rss_addon:.0f} MiB after {args.rounds} pulls of {size_mib:.0f} MiB (without the addon:"
        f" {rss_plain:.0f} MiB). Trace JSON written on shutdown: {trace_written}.\n"
        f"{END}"
    )
    write_section(section, BEGIN, END)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
