"""Capture the lab samples: real pulls by docker, skopeo, ctr, podman and pulltrace itself,
saved as trace JSON in samples/lab/ with secrets masked, each trace's `notes` naming
the command that made it. scripts/gallery then renders them into reports/.

    scripts/capture-samples [--only NAME ...] [--out DIR] [--keep-work]
    scripts/capture-samples --rebuild     # no lab: re-classify the saved exchanges

Needs the running lab (`pulltrace lab up`) and root (lab dockerd, ctr). Every capture
gets a mitmdump of its own (so one file holds one capture) on one fixed port, because a
lab dockerd reads its proxy only when it starts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from devtools.mitmdump import Mitmdump, MitmdumpError, free_port, mitmdump_command
from pulltrace.errors import UserError
from pulltrace.lab import Lab
from pulltrace.lab.docker import DockerDaemon, stop_docker
from pulltrace.lab.procs import daemon_env
from pulltrace.model import load_trace, write_atomically
from pulltrace.pipeline import build_trace

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
PULLTRACE = BIN / "pulltrace"
ADDON = ROOT / "addons" / "pulltrace.py"
OUT = ROOT / "samples" / "lab"
DAEMON = "samples"
CTR_NAMESPACE = "pulltrace-samples"
HOW = "Captured in the pulltrace lab by scripts/capture-samples"


class CaptureError(Exception):
    """A capture that did not happen as planned; names the capture and what to look at."""


def start_mitmdump(port: int, confdir: Path, out: Path, lab_ca: Path) -> Mitmdump:
    """One mitmdump with the pulltrace addon (masked secrets, the default) writing into `out`."""
    argv = mitmdump_command(port=port, confdir=confdir, upstream_ca=lab_ca, addon=ADDON, out=out,
                            outputs=("console", "json"),
                            options=("stream_large_bodies=1m", "flow_detail=0", "pulltrace_idle=1"))
    try:
        return Mitmdump.start(argv, log=out / "mitmdump.log", cwd=out, port=port)
    except MitmdumpError as e:
        raise CaptureError(str(e).splitlines()[0]) from e


@dataclass
class Context:
    """What a capture needs: the lab, the proxied dockerd, the mitmdump of this capture."""

    lab: Lab
    daemon: DockerDaemon
    mitm: Mitmdump | None
    work: Path
    mitm_ca: Path

    def proxy_env(self, **extra: str) -> dict[str, str]:
        assert self.mitm is not None
        url = self.mitm.url
        return daemon_env({"HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url, "http_proxy": url, **extra})

    def hub(self, repo: str) -> str:
        return f"{self.lab.host('hub')}/{repo}"


@dataclass(frozen=True)
class Capture:
    name: str
    note: str  # the command(s), as a reader of the sample would type them
    run: Callable[[Context], Path | None]  # returns a trace path when it wrote its own
    proxied: bool = True
    # The classified kinds that make this capture worth keeping: checked before saving.
    expect: Callable[[dict], str | None] = lambda trace: None


def _run(argv: Sequence[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,),
         input: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), check=False, env=env, capture_output=True, text=True, input=input,
                          timeout=timeout)
    if proc.returncode not in ok:
        raise CaptureError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc


def docker_pull(*refs: str, reset: bool = True) -> Callable[[Context], None]:
    def run(ctx: Context) -> None:
        if reset:
            ctx.daemon.forget_images()
        for ref in refs:
            ctx.daemon.docker("pull", ref.format(hub=ctx.lab.host("hub"), gcr=ctx.lab.host("gcr"),
                                                 harbor=ctx.lab.host("harbor")))
    return run


def docker_login_pull(ctx: Context) -> None:
    ctx.daemon.forget_images()
    host = ctx.lab.host("basic")
    ctx.daemon.docker("logout", host, check=False)
    try:
        ctx.daemon.docker("login", "-u", "admin", "--password-stdin", host, input="admin-pass\n")
        ctx.daemon.docker("pull", f"{host}/team/app")
    finally:
        ctx.daemon.docker("logout", host, check=False)


def skopeo_copy(ctx: Context) -> None:
    if not shutil.which("skopeo"):
        raise CaptureError("skopeo is not installed (apt-get install skopeo)")
    certs = ctx.work / "skopeo-certs"
    certs.mkdir(exist_ok=True)
    shutil.copy(ctx.mitm_ca, certs / "mitmproxy.crt")  # skopeo verifies TLS: trust mitmproxy's CA
    archive = ctx.work / "three.tar"
    archive.unlink(missing_ok=True)
    _run(["skopeo", "copy", "--src-cert-dir", str(certs), f"docker://{ctx.hub('library/three')}",
          f"docker-archive:{archive}"], env=ctx.proxy_env())


def ctr_pull(ctx: Context) -> None:
    ref = f"{ctx.hub('library/multi-oci')}:latest"
    ns = ("-n", CTR_NAMESPACE)
    ctx.daemon.forget_images()
    bundle = ctx.work / "mitmproxy-ca.pem"
    shutil.copy(ctx.mitm_ca, bundle)  # ctr verifies TLS: trust mitmproxy's CA
    ctx.daemon.ctr(*ns, "images", "pull", ref, env=ctx.proxy_env(SSL_CERT_FILE=str(bundle)))


def podman_pull(ctx: Context) -> None:
    if not shutil.which("podman"):
        raise CaptureError("podman is not installed (apt-get install podman)")
    certs = ctx.work / "podman-certs"
    certs.mkdir(exist_ok=True)
    shutil.copy(ctx.mitm_ca, certs / "mitmproxy.crt")  # podman verifies TLS: trust mitmproxy's CA
    # Its own storage, so every blob is fetched; vfs, file events and cgroupfs: what runs here.
    # podman refuses a runroot path longer than 50 characters.
    with tempfile.TemporaryDirectory(prefix="pulltrace-podman-") as short:
        _run(["podman", "--root", f"{short}/root", "--runroot", f"{short}/run", "--storage-driver", "vfs",
              "--events-backend", "file", "--cgroup-manager", "cgroupfs", "pull", "--cert-dir", str(certs),
              f"{ctx.hub('library/multi')}:latest"], env=ctx.proxy_env())


def pulltrace_pull(ctx: Context) -> Path:
    trace = ctx.work / "pulltrace-pull.json"
    cache = ctx.work / "pull-cache"
    shutil.rmtree(cache, ignore_errors=True)  # an empty cache: every blob on the wire
    _run([str(PULLTRACE), "pull", ctx.hub("library/multi"), "--no-output", "--cache", str(cache),
          "--save-trace", str(trace), "-q"], env=daemon_env({"SSL_CERT_FILE": str(ctx.lab.pki.bundle)}))
    return trace


def pulltrace_pull_loop(ctx: Context) -> Path:
    trace = ctx.work / "pulltrace-pull-loop.json"
    cache = ctx.work / "loop-cache"
    shutil.rmtree(cache, ignore_errors=True)
    # Exit status 1: the blob's redirects loop and the client gives up, which is the point.
    _run([str(PULLTRACE), "pull", f"{ctx.lab.host('loop')}/library/tiny", "--no-output", "--cache", str(cache),
          "--save-trace", str(trace), "-q"], env=daemon_env({"SSL_CERT_FILE": str(ctx.lab.pki.bundle)}), ok=(1,))
    return trace


def doctor_denied(ctx: Context) -> Path:
    trace = ctx.work / "doctor.json"
    # Exit status 1: the doctor found an error, which is what this sample is for.
    _run([str(PULLTRACE), "doctor", ctx.hub("private/secret"), "-u", "alice", "--password-stdin",
          "--save-trace", str(trace)], env=daemon_env({"SSL_CERT_FILE": str(ctx.lab.pki.bundle)}),
         ok=(1,), input="alice-pass\n")
    return trace


def _kinds(session: dict) -> list[str]:
    return [step["kind"] for step in session["steps"]]


def _pulls(trace: dict) -> list[dict]:
    return [s for s in trace["sessions"] if s.get("action") == "pull"]


def _one_pull_with(*required: str) -> Callable[[dict], str | None]:
    def check(trace: dict) -> str | None:
        pulls = _pulls(trace)
        if len(pulls) != 1:
            return f"{len(pulls)} pull sessions, wanted 1"
        missing = [k for k in required if k not in _kinds(pulls[0])]
        return f"no {', '.join(missing)} step in {_kinds(pulls[0])}" if missing else None
    return check


def _two_pulls(trace: dict) -> str | None:
    pulls = _pulls(trace)
    if len(pulls) != 2:
        return f"{len(pulls)} pull sessions, wanted 2"
    return None if pulls[1]["summary"].get("skipped_blobs") else "the second pull skipped no blob"


def _login_then_pull(trace: dict) -> str | None:
    actions = [s.get("action") for s in trace["sessions"]]
    return None if actions == ["login", "pull"] else f"sessions {actions}, wanted login then pull"


def _has_error_finding(trace: dict) -> str | None:
    findings = [f for s in trace["sessions"] for f in s.get("findings", [])]
    return None if any(f.get("severity") == "error" for f in findings) else "the doctor found no error"


CAPTURES: tuple[Capture, ...] = (
    Capture("docker-hub-multi",
            "docker pull hub.pulltrace.test/library/multi (lab dockerd with no image cached, "
            "HTTPS_PROXY to mitmdump -s addons/pulltrace.py)",
            docker_pull("{hub}/library/multi"), expect=_one_pull_with("manifest-index", "cdn-download")),
    Capture("docker-mirror-tiny",
            "docker pull tiny (lab dockerd whose registry-mirrors is https://mirror.pulltrace.test, "
            "no image cached, HTTPS_PROXY to mitmdump -s addons/pulltrace.py)",
            docker_pull("tiny"), expect=_one_pull_with("manifest", "cdn-download")),
    Capture("docker-basic-login-pull",
            "docker login -u admin --password-stdin basic.pulltrace.test; "
            "docker pull basic.pulltrace.test/team/app; docker logout (lab dockerd, no image cached, "
            "HTTPS_PROXY to mitmdump -s addons/pulltrace.py)",
            docker_login_pull, expect=_login_then_pull),
    Capture("docker-gcr-three",
            "docker pull gcr.pulltrace.test/library/three (gcr.io-like: token realm on the same host, "
            "blobs 302; lab dockerd with no image cached, HTTPS_PROXY to mitmdump -s addons/pulltrace.py)",
            docker_pull("{gcr}/library/three"), expect=_one_pull_with("blob-redirect", "cdn-download")),
    Capture("docker-harbor-tiny",
            "docker pull harbor.pulltrace.test/library/tiny (Harbor-like: realm /service/token, "
            "blobs 200; lab dockerd with no image cached, HTTPS_PROXY to mitmdump -s addons/pulltrace.py)",
            docker_pull("{harbor}/library/tiny"), expect=_one_pull_with("token", "layer-blob")),
    Capture("docker-tiny-plus-after-tiny",
            "docker pull hub.pulltrace.test/library/tiny; docker pull hub.pulltrace.test/library/tiny-plus "
            "(tiny-plus shares tiny's layer; lab dockerd with no image cached before the first pull, "
            "HTTPS_PROXY to mitmdump -s addons/pulltrace.py)",
            docker_pull("{hub}/library/tiny", "{hub}/library/tiny-plus"), expect=_two_pulls),
    Capture("skopeo-copy-three",
            "skopeo copy --src-cert-dir <mitmproxy CA> docker://hub.pulltrace.test/library/three "
            "docker-archive:three.tar (HTTPS_PROXY to mitmdump -s addons/pulltrace.py)",
            skopeo_copy, expect=_one_pull_with("manifest", "cdn-download")),
    Capture("ctr-pull-multi-oci",
            "ctr -n pulltrace-samples images pull hub.pulltrace.test/library/multi-oci:latest "
            "(the lab dockerd's containerd, empty content store, SSL_CERT_FILE=<mitmproxy CA>, "
            "HTTPS_PROXY to mitmdump -s addons/pulltrace.py)",
            ctr_pull, expect=_one_pull_with("manifest-index", "cdn-download")),
    Capture("pulltrace-pull-multi",
            "pulltrace pull hub.pulltrace.test/library/multi --no-output --cache <empty dir> "
            "--trace pulltrace-pull-multi.json (the built-in client's own trace; no proxy)",
            pulltrace_pull, proxied=False, expect=_one_pull_with("manifest-index", "cdn-download")),
    Capture("podman-pull-multi",
            "podman --storage-driver vfs --events-backend file --cgroup-manager cgroupfs --root <empty dir> "
            "pull --cert-dir <mitmproxy CA> hub.pulltrace.test/library/multi:latest "
            "(HTTPS_PROXY to mitmdump -s addons/pulltrace.py)",
            podman_pull, expect=_one_pull_with("manifest-index", "manifest", "cdn-download")),
    Capture("pulltrace-pull-loop",
            "pulltrace pull loop.pulltrace.test/library/tiny --no-output --cache <empty dir> "
            "--trace pulltrace-pull-loop.json (the registry's blob redirect leads to a CDN that redirects "
            "back: the client stops after 10 redirects, exit status 1; no proxy)",
            pulltrace_pull_loop, proxied=False, expect=_has_error_finding),
    Capture("doctor-alice-denied",
            "pulltrace doctor hub.pulltrace.test/private/secret -u alice --password-stdin "
            "--save-trace doctor-alice-denied.json (alice may pull team/* only; exit status 1)",
            doctor_denied, proxied=False, expect=_has_error_finding),
)


def capture(spec: Capture, lab: Lab, daemon: DockerDaemon, port: int, work: Path, out: Path) -> Path:
    """Run one capture and save its trace, notes added, as `out/<name>.json`."""
    here = work / spec.name
    shutil.rmtree(here, ignore_errors=True)
    here.mkdir(parents=True)
    confdir = work / "mitmconf"
    mitm = start_mitmdump(port, confdir, here / "mitm", lab.ca_path) if spec.proxied else None
    ctx = Context(lab, daemon, mitm, here, confdir / "mitmproxy-ca-cert.pem")
    written_by_mitm: Path | None = None
    try:
        written = spec.run(ctx)
    except subprocess.CalledProcessError as e:
        command = " ".join(map(str, e.cmd))
        raise CaptureError(f"{command} exited {e.returncode}: {(e.stderr or '').strip()[-500:]}") from e
    finally:
        if mitm is not None:
            mitm.stop()  # the addon writes its trace JSON as mitmdump shuts down
            written_by_mitm = here / "mitm" / "pulltrace.json"
    path = written if written is not None else written_by_mitm
    if path is None or not path.exists():
        raise CaptureError(f"no trace was written for {spec.name}" + (f"; see {mitm.log}" if mitm else ""))
    trace = load_trace(path)
    trace.notes.insert(0, f"{HOW}: {spec.note}. Secrets masked.")
    problem = spec.expect(json.loads(trace.to_json()))
    if problem:
        raise CaptureError(f"{spec.name}: {problem}; kept in {path}")
    target = out / f"{spec.name}.json"
    write_atomically(target, trace.to_json() + "\n")
    return target


def rebuild(out: Path) -> list[Path]:
    """Re-run classification, sessions and diagnosis over each saved sample's exchanges,
    keeping its notes: what a change in pulltrace's reading of the wire needs, without the lab."""
    written = []
    for path in sorted(out.glob("*.json")):
        old = load_trace(path)
        exchanges = sorted((step.exchange for s in old.sessions for step in s.steps), key=lambda e: e.started_at)
        new = build_trace(exchanges, old.source)
        new.notes = list(old.notes)
        new.created_at, new.tool_version = old.created_at, old.tool_version
        text = new.to_json() + "\n"
        if path.read_text(encoding="utf-8") != text:
            write_atomically(path, text)
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="capture-samples", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="NAME", choices=[c.name for c in CAPTURES],
                        help="capture only this sample (repeatable)")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the traces (default: samples/lab/)")
    parser.add_argument("--keep-work", action="store_true", help="keep mitmdump logs and raw traces")
    parser.add_argument("--rebuild", action="store_true",
                        help="no capture: re-classify the exchanges of the saved samples with this pulltrace")
    args = parser.parse_args(argv)
    if args.rebuild:
        changed = rebuild(args.out)
        print(f"capture-samples: {len(changed)} sample(s) rebuilt" + "".join(f"\n  {p}" for p in changed))
        return 0
    wanted = [c for c in CAPTURES if not args.only or c.name in args.only]
    try:
        lab = Lab.load()
        if not lab.healthy():
            raise UserError("the lab is not up: run `pulltrace lab up` first")
        args.out.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="pulltrace-samples-"))
        port = free_port()
        daemon = lab.docker(DAEMON, proxy=f"http://127.0.0.1:{port}")
        try:
            for spec in wanted:
                print(f"capture-samples: {spec.name} …", flush=True)
                print(f"capture-samples:   wrote {capture(spec, lab, daemon, port, work, args.out)}")
        finally:
            # This daemon's proxy is a port that is gone once we exit: stop it with us.
            stop_docker(lab.settings, DAEMON)
            if args.keep_work:
                print(f"capture-samples: work files in {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    except (UserError, CaptureError) as e:
        print(f"capture-samples: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
