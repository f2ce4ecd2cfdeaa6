"""distribution's JSON formatter, from a docker-registry of this test's own.

The lab's registries log text and are shared, so this test starts its own Debian
`docker-registry` (its port, its storage, `log.formatter: json`, no REGISTRY_* variables
from the environment: docker-registry maps them onto its config), pushes an image the way
`docker push` does, pulls it with skopeo and reads the pull back from the JSON log.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time

import httpx
import pytest
from logshelpers import kinds, pulls_of, report

from pulltrace.lab import procs
from pulltrace.lab.images import build_small
from pulltrace.lab.push import push_image

pytestmark = pytest.mark.lab

REGISTRY = "/usr/bin/docker-registry"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def json_registry(tmp_path):
    if not shutil.which(REGISTRY) or not shutil.which("skopeo"):
        pytest.skip("docker-registry or skopeo is not installed")
    port = _free_port()
    config = {
        "version": "0.1",
        "log": {"level": "info", "formatter": "json"},
        "storage": {"filesystem": {"rootdirectory": str(tmp_path / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "logs-json-test"},
    }
    conf = tmp_path / "registry.yml"
    conf.write_text(json.dumps(config))  # JSON is YAML
    log = tmp_path / "registry.log"
    env = {k: v for k, v in procs.daemon_env().items() if not k.startswith("REGISTRY_")}
    with log.open("wb") as out:
        proc = subprocess.Popen([REGISTRY, "serve", str(conf)], stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/v2/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-500:]
            time.sleep(0.2)
        yield base, port, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_skopeo_pull_read_back_from_the_json_log(json_registry, tmp_path):
    base, port, log = json_registry
    (three,) = [i for i in build_small() if i.repository == "library/three"]
    with httpx.Client(base_url=base, timeout=30) as client:
        push_image(client, three)
    offset = log.stat().st_size
    image = f"127.0.0.1:{port}/library/three:latest"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", f"docker://{image}", f"dir:{tmp_path / 'img'}"],
                   check=True, capture_output=True, timeout=300)
    time.sleep(0.5)
    pulled = tmp_path / "pull.log"
    with log.open("rb") as f:
        f.seek(offset)
        pulled.write_bytes(f.read())
    first = pulled.read_text().splitlines()[0]
    assert first.startswith("{") and json.loads(first)["msg"]  # the JSON formatter, really

    trace = report(pulled)
    assert any(n.startswith("pull.log: a CNCF distribution registry log (logrus JSON") for n in trace.notes)
    (s,) = pulls_of(trace, image, "skopeo/")
    # No auth and no redirect middleware: ping, manifest by tag, then the blobs straight from it.
    assert kinds(s) == ["ping", "manifest"] + ["layer-blob"] * 4
    assert s.steps[1].exchange.response_header("content-type") == three.manifest.media_type
    assert s.steps[1].exchange.response_bytes == three.manifest.size
    assert {st.reference for st in s.steps[2:]} == {b.digest for b in three.blobs}
    assert sorted(st.exchange.response_bytes for st in s.steps[2:]) == sorted(b.size for b in three.blobs)
    assert s.findings == []
