"""A fleet in the lab: several dockerd nodes, each pulling through its own pulltrace, one
Prometheus scraping them all, one OTLP receiver, and the fleet report at the end.

    scripts/fleet-demo [--nodes 3] [--out DIR] [--keep]

Each node is a lab dockerd named `fleet-<letter>` whose proxy is a mitmdump with the addon
(`pulltrace_node=fleet-<letter>`, `pulltrace_metrics`, `pulltrace_otlp`), as a platform
team runs one pulltrace per node or mirror. (Lab dockerds all connect from 127.0.0.1, so a
single proxy could not tell them apart.) Debian's `prometheus` scrapes every node's
metrics endpoint with `node` as a target label; the demo queries its HTTP API, then
merges every node's pulltrace.jsonl into `pulltrace report --format fleet`.
The lab tests in tests/fleet drive the same classes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from devtools.mitmdump import Mitmdump, free_port, mitmdump_command

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "addons" / "pulltrace.py"
PROMETHEUS = "/usr/bin/prometheus"
# What each node pulls in the demo (node index -> images); some registries fail on purpose:
# ratelimit. answers manifests 429 (Docker Hub's quota spent), quota. sends RateLimit-* headers.
DEMO_PULLS = (
    ("hub/library/tiny", "quota/library/three"),
    ("hub/library/multi", "ratelimit/library/tiny"),
    ("gcr/library/three", "hub/library/tiny-plus"),
)


@dataclass
class Node:
    """One fleet node: a mitmdump with the addon, and the lab dockerd that uses it as its proxy."""

    name: str
    out: Path
    port: int
    metrics_port: int
    otlp: str | None = None
    options: tuple[str, ...] = ()
    mitm: Mitmdump | None = None
    daemon: Any = None
    pulled: list[tuple[str, int]] = field(default_factory=list)

    def start(self, lab: Any, confdir: Path) -> None:
        options = [f"pulltrace_node={self.name}", f"pulltrace_metrics=127.0.0.1:{self.metrics_port}",
                   "pulltrace_idle=1", "flow_detail=0", *self.options]
        if self.otlp:
            options.append(f"pulltrace_otlp={self.otlp}")
        argv = mitmdump_command(port=self.port, confdir=confdir, upstream_ca=lab.ca_path, addon=ADDON,
                                out=self.out, outputs=("console", "jsonl", "json"), options=options)
        self.mitm = Mitmdump.start(argv, log=self.out / "mitmdump.log", cwd=self.out, port=self.port)
        self.daemon = lab.docker(self.name, proxy=self.mitm.url)
        self.daemon.forget_images()

    def pull(self, image: str) -> int:
        result = self.daemon.docker("pull", image, check=False)
        self.pulled.append((image, result.returncode))
        return result.returncode

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def jsonl(self) -> Path:
        return self.out / "pulltrace.jsonl"

    def stop(self) -> None:
        if self.mitm is not None:
            self.mitm.stop()

    def stop_daemon(self) -> None:
        """The demo's dockerd goes too (the tests keep theirs for the next test, as the lab does)."""
        if self.daemon is not None:
            self.daemon.stop()


class Prometheus:
    """Debian's prometheus on a port and data directory of its own, scraping `targets` every second."""

    def __init__(self, workdir: Path, targets: dict[str, str], *, binary: str = PROMETHEUS) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.binary = binary
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "prometheus.yml"
        static = [{"targets": [address], "labels": {"node": node}} for node, address in targets.items()]
        # JSON is YAML: no YAML writer needed.
        self.config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "pulltrace", "static_configs": static}],
        }, indent=2))
        self.log = workdir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        argv = [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1d"]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited (status {self.proc.returncode}); see {self.log}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"prometheus was not ready within {timeout:.0f} s; see {self.log}")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query through the HTTP API: the result vector."""
        resp = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10)
        resp.raise_for_status()
        data = resp.json()
        assert data["status"] == "success", data
        return list(data["data"]["result"])

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, promql: str, expected: float, timeout: float = 60.0) -> float | None:
        """Until `promql` evaluates to `expected` (scrapes come every second); the last value seen."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.value(promql)
            if value == expected:
                return value
            time.sleep(0.5)
        return value

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def node_names(count: int) -> list[str]:
    return [f"fleet-{chr(ord('a') + i)}" for i in range(count)]


def run(count: int, out: Path, *, keep: bool = False) -> int:
    from devtools.otlp_receiver import OtlpReceiver
    from pulltrace.commands.main import main as pulltrace
    from pulltrace.lab import Lab

    if shutil.which("prometheus") is None:
        print("fleet-demo: Debian's prometheus is missing: apt-get install -y prometheus", file=sys.stderr)
        return 1
    lab = Lab.load()
    if not lab.healthy():
        print("fleet-demo: the lab is not up (pulltrace lab up)", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    confdir = out / "mitmconf"
    with OtlpReceiver() as receiver:
        nodes = [Node(name, out / name, free_port(), free_port(), otlp=receiver.url) for name in node_names(count)]
        prometheus = Prometheus(out / "prometheus", {n.name: f"127.0.0.1:{n.metrics_port}" for n in nodes})
        try:
            for node in nodes:
                node.start(lab, confdir)
                print(f"{node.name}: dockerd {node.daemon.host} through {node.proxy_url}, metrics {node.metrics_url}")
            prometheus.start()
            print(f"prometheus: {prometheus.url} (config {prometheus.config})")
            for i, node in enumerate(nodes):
                for short in DEMO_PULLS[i % len(DEMO_PULLS)]:
                    registry, _, repository = short.partition("/")
                    image = f"{lab.host(registry)}/{repository}"
                    status = node.pull(image)
                    print(f"{node.name}: docker pull {image}: {'ok' if status == 0 else f'failed ({status})'}")
            total = sum(len(n.pulled) for n in nodes)
            seen = prometheus.wait_for("sum(pulltrace_pulls_total)", total)
            print(f"prometheus: sum(pulltrace_pulls_total) = {seen} (pulls made: {total})")
            for row in prometheus.query("sum by (node, result) (pulltrace_pulls_total)"):
                print(f"  pulls{{node={row['metric']['node']}, result={row['metric']['result']}}} "
                      f"= {row['value'][1]}")
            for row in prometheus.query("pulltrace_ratelimit_remaining"):
                print(f"  ratelimit remaining on {row['metric']['host']} (seen by {row['metric']['node']}) "
                      f"= {row['value'][1]}")
        finally:
            for node in nodes:
                node.stop()
                if not keep:
                    node.stop_daemon()
            if not keep:
                prometheus.stop()
        receiver.wait_for(1, timeout=5)
        traces = receiver.received.traces()
        print(f"otlp receiver: {len(traces)} traces, {len(receiver.received.spans)} spans")
    files = [str(n.jsonl) for n in nodes if n.jsonl.exists()]
    report = out / "fleet.md"
    pulltrace(["report", *files, "--format", "fleet-md", "-o", str(report)])
    print(f"fleet report: {report}\n")
    return pulltrace(["report", *files, "--format", "fleet"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fleet-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3, help="lab dockerds to start (default 3)")
    parser.add_argument("--out", type=Path, default=Path("fleet-demo-out"), help="where everything is written")
    parser.add_argument("--keep", action="store_true",
                        help="leave prometheus and the fleet-* dockerds running at the end")
    args = parser.parse_args(argv)
    if not 1 <= args.nodes <= 26:
        parser.error("--nodes must be 1 to 26")
    return run(args.nodes, args.out.resolve(), keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
