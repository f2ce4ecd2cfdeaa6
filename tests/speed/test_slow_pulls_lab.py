"""Why a pull was slow, on real pulls: docker (a lab dockerd through mitmdump), skopeo (through
mitmdump) and `pulltrace pull` (its own trace) pull `library/slow` from the lab's `slow.` registry,
whose blobs 307 to `edge.`, a caching CDN in front of `throttle.`, which rate-limits layer 2.

A cold pull (the edge purged) must name layer 2 — its number and digest, the host that served it
and the cache's MISS — as far slower than its peers and as the miss that cost most of the pull; a
warm pull right after must show every layer as a HIT and no speed finding. `throttled.` sends the
same layer straight from `throttle.`, with no cache: slow on every pull, and no cache to blame.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pulltrace.commands.main import main
from pulltrace.diagnose.speed import short_digest
from pulltrace.lab import images as lab_images
from pulltrace.model import Session, Trace, load_trace
from pulltrace.timing import blob_deliveries, time_split

pytestmark = pytest.mark.lab

SLOW = f"layer {lab_images.SLOW_LAYER}/{len(lab_images.SLOW_LAYER_BYTES)}"
CLIENTS = ("docker", "skopeo", "pulltrace")


def proxy_env(url: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {**env, "HTTPS_PROXY": url, "https_proxy": url, "HTTP_PROXY": url, "http_proxy": url}


class Puller:
    """Pulls one reference with one client and returns the trace file a user would read."""

    def __init__(self, client: str, lab, start_mitm, daemon_factory, tmp_path: Path) -> None:
        self.client, self.lab, self.start_mitm, self.daemon_factory = client, lab, start_mitm, daemon_factory
        self.tmp = tmp_path

    def pull(self, ref: str, name: str) -> Path:
        if self.client == "pulltrace":
            path = self.tmp / f"{name}.json"
            assert main(["pull", ref, "-q", "--no-output", "--save-trace", str(path),
                         "--cache", str(self.tmp / f"{name}-cache")]) == 0
            return path
        mitm = self.start_mitm(name)
        if self.client == "docker":
            d = self.daemon_factory()
            d.forget_images()
            d.docker("pull", ref)
        else:
            if not shutil.which("skopeo"):
                pytest.skip("skopeo is not installed")
            certs = self.tmp / f"{name}-certs"
            certs.mkdir()
            shutil.copy(mitm.ca_cert, certs / "mitmproxy.crt")  # skopeo verifies TLS: trust mitmproxy's CA
            subprocess.run(["skopeo", "copy", "--src-cert-dir", str(certs), f"docker://{ref}",
                            f"docker-archive:{self.tmp / (name + '.tar')}"], env=proxy_env(mitm.url), check=True,
                           capture_output=True, timeout=300)
        mitm.trace()
        return mitm.out / "pulltrace.json"


@pytest.fixture
def puller(request, lab, start_mitm, tmp_path):
    return Puller(request.param, lab, start_mitm, lambda: request.getfixturevalue("slow_daemon"), tmp_path)


def the_pull(trace: Trace) -> Session:
    (session,) = [s for s in trace.sessions if s.action == "pull"]
    return session


def speed_rules(session: Session) -> list[str]:
    return [f.rule for f in session.findings if f.rule.startswith("speed.")]


def layers_by_role(session: Session) -> dict[str, tuple[str, str]]:
    """role → (host that served it, cache verdict)."""
    return {d.role: (d.host, d.cache.verdict) for d in blob_deliveries(session) if d.is_layer}


def split_checks(session: Session) -> tuple[list[str], bool]:
    """Steps whose connect/TLS/wait/transfer add up to more than their duration (as recorded in the
    trace, and as the views read them), and whether any step recorded its connection's setup as done
    before its request started."""
    over, early = [], False
    for step in session.steps:
        t, split = step.exchange.timings, time_split(step.exchange)
        for what, phases in (("recorded", (t.connect_ms, t.tls_ms, t.wait_ms, t.receive_ms)),
                             ("split", (split.connect_ms, split.tls_ms, split.wait_ms, split.transfer_ms))):
            parts = sum(x for x in phases if x)
            if split.total_ms is not None and parts > split.total_ms + 0.01:
                over.append(f"{step.id} {what}: {parts} > {split.total_ms}")
        early = early or t.early_connect_ms is not None or t.early_tls_ms is not None
    return over, early


def cli(capsys, *argv: str) -> str:
    main(list(argv))
    return capsys.readouterr().out


def flat(text: str) -> str:
    return " ".join(text.split())


def why_slow_lines(text: str) -> list[str]:
    """The lines of the terminal report's "Why slow:" table under its header."""
    lines = text.splitlines()
    start = lines.index("Why slow:")
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start + 3:end]


def blob_rows(text: str) -> dict[str, list[str]]:
    """blob → (host, cache) words of each row of the "Why slow:" table (its first line)."""
    rows = [line.split() for line in why_slow_lines(text)]
    return {" ".join(r[1:3]): r[3:5] for r in rows if r[0].isdigit() and r[1] == "layer"}


@pytest.mark.parametrize("puller", CLIENTS, indirect=True)
def test_a_cold_pull_names_the_slow_layer_its_host_and_the_miss_and_a_warm_one_hits(lab, cold_edge, puller,
                                                                                    capsys):
    info = lab.images[lab_images.SLOW_REPOSITORY]
    slow = info.layers[lab_images.SLOW_LAYER - 1]
    edge, ref = lab.host("edge"), f"{lab.host('slow')}/{lab_images.SLOW_REPOSITORY}"

    cold = puller.pull(ref, "cold")
    session = the_pull(load_trace(cold))
    assert layers_by_role(session) == {f"layer {n}/3": (edge, "miss") for n in (1, 2, 3)}
    assert speed_rules(session) == ["speed.slow-layer", "speed.cache-miss"]
    # Each step's split fits in its time. mitmdump connects upstream when the client sends CONNECT
    # (its default eager strategy): that setup is before the request, said so and not counted.
    over, early = split_checks(session)
    assert (over, early) == ([], puller.client != "pulltrace")
    # What the doctor prints: the layer by number and docker's short id, its host and its cache.
    doctor = flat(cli(capsys, "doctor", "--capture", str(cold)))
    assert f"{SLOW} ({short_digest(slow.digest)}) came " in doctor
    assert f"slower than the other layers, from {edge} (cache MISS)" in doctor
    assert f"{SLOW} ({slow.digest}, 1.3 MiB) arrived at " in doctor
    assert f"{edge} cache said x-cache: MISS." in doctor
    assert f"{SLOW} ({short_digest(slow.digest)}) missed the cache on {edge} and took " in doctor
    # The terminal report's "why slow" table: the slow layer's row, its host and MISS, marked.
    text = cli(capsys, "show", str(cold))
    assert blob_rows(text) == {f"layer {n}/3": [edge, "MISS"] for n in (1, 2, 3)}
    lines = why_slow_lines(text)
    (at,) = [i for i, line in enumerate(lines) if line.split()[1:3] == SLOW.split()]
    assert lines[at + 1].split()[:4] == ["(slow", "·", "cache", "miss)"]
    md = cli(capsys, "show", "--format", "md", str(cold))
    (md_row,) = [line for line in md.splitlines() if line.startswith(f"| {SLOW} ")]
    assert md_row.startswith(f"| {SLOW} **(slow · cache miss)** | ")
    assert (f"| {edge}<br>← {lab.host('slow')} | MISS (cache-lab-edge1)<br>x-cache: MISS · "
            "via: 1.1 cache-lab-edge1 (nginx) · x-served-by: cache-lab-edge1 |") in md_row

    warm = puller.pull(ref, "warm")
    session = the_pull(load_trace(warm))
    assert layers_by_role(session) == {f"layer {n}/3": (edge, "hit") for n in (1, 2, 3)}
    assert speed_rules(session) == []
    doctor = cli(capsys, "doctor", "--capture", str(warm))
    assert "speed." not in doctor
    text = cli(capsys, "show", str(warm))
    assert blob_rows(text) == {f"layer {n}/3": [edge, "HIT"] for n in (1, 2, 3)}
    assert "(slow" not in "\n".join(why_slow_lines(text))


def test_a_rate_limited_host_without_a_cache_is_slow_on_every_pull(lab, tmp_path, capsys):
    throttle, ref = lab.host("throttle"), f"{lab.host('throttled')}/{lab_images.SLOW_REPOSITORY}"
    slow = lab.images[lab_images.SLOW_REPOSITORY].layers[lab_images.SLOW_LAYER - 1]
    for attempt in ("first", "second"):
        path = tmp_path / f"{attempt}.json"
        assert main(["pull", ref, "-q", "--no-output", "--save-trace", str(path),
                     "--cache", str(tmp_path / f"{attempt}-cache")]) == 0
        session = the_pull(load_trace(path))
        assert layers_by_role(session) == {f"layer {n}/3": (throttle, "") for n in (1, 2, 3)}
        # No cache said anything, so no miss is blamed; the layer is slow all the same.
        assert speed_rules(session) == ["speed.slow-layer"]
        doctor = flat(cli(capsys, "doctor", "--capture", str(path)))
        assert f"{SLOW} ({short_digest(slow.digest)}) came " in doctor
        # No cache verdict to add to the title.
        assert f"slower than the other layers, from {throttle} rule: speed.slow-layer" in doctor
        assert f"{throttle} sent no cache headers." in doctor


def test_a_pull_of_one_tiny_layer_through_a_cold_edge_says_nothing_about_speed(lab, cold_edge, tmp_path):
    path = tmp_path / "tiny.json"
    assert main(["pull", f"{lab.host('slow')}/library/tiny", "-q", "--no-output", "--save-trace", str(path),
                 "--cache", str(tmp_path / "cache")]) == 0
    session = the_pull(load_trace(path))
    assert layers_by_role(session) == {"layer 1/1": (lab.host("edge"), "miss")}
    assert speed_rules(session) == []
