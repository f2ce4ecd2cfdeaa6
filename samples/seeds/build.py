"""Rebuild the sample traces in this folder from the recorded seed exchanges.

    .venv/bin/python samples/seeds/build.py

Each `tests/data/seeds/<name>.json` (exchanges written from a seed transcript, tokens
replaced by fake ones) goes through the same path an imported capture takes: masking,
classification, sessions. tests/unit/capture/test_importers.py checks these files are
up to date.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "tests" / "data" / "seeds"
OUT = Path(__file__).resolve().parent

NOTES: dict[str, list[str]] = {
    "000-daocloud-busybox": [
        "Reconstructed from seed 000 (a five-row table of `docker pull daocloud.io/busybox`, 2018); "
        "the token is a fake JWT, the CDN signature a fake. The table stops after the config blob, "
        "so the layer blob never appears on the wire.",
    ],
    "001-dockerhub-alpine": [
        "Reconstructed from seed 001 (`docker pull alpine` from Docker Hub with docker 19.03, 2020); "
        "tokens are fake JWTs with the original claims, the CDN `verify` signature a fake. The transcript "
        "shows only the config blob's download.",
    ],
    "001-aliyun-mirror-alpine": [
        "Reconstructed from seed 001 (`docker pull alpine` through an Aliyun registry mirror, 2020); "
        "no auth; the object-store signature and access key id are fakes. The transcript shows only the "
        "config blob's download.",
    ],
    "001-gcr-kube-controller-manager": [
        "Reconstructed from seed 001 (`docker pull gcr.io/google-containers/kube-controller-manager:v1.16.10`, "
        "2020); gcr.io issues opaque tokens, replaced by a fake of the same shape.",
    ],
    "001-quay-alpine-curl": [
        "Reconstructed from seed 001 (`docker pull quay.io/watchdogpolska/alpine-curl`, 2020); the token is "
        "a fake JWT with the original claims, CDN signatures are fakes. The first layer (alpine's) was "
        "already present from the earlier alpine pull, so the client never asked for it.",
    ],
    "002-reverse-proxy-alpine": [
        "Reconstructed from seed 002's reverse-proxy layout (/docker-registry/, /docker-auth/, /docker-blob/ "
        "in front of Docker Hub) used by a pull tool; responses are modelled on seed 001's Docker Hub "
        "transcript. The tool sends its token request and blob downloads through the proxy, not to the "
        "realm and Location the registry named.",
    ],
    "003-harbor-pull": [
        "Reconstructed from seed 003 (a Harbor nginx access log of a docker 17.09 pull, 2017): methods, paths, "
        "statuses, sizes and durations are the log's; headers are Harbor's usual ones, the manifest body is "
        "rebuilt from the blobs fetched after it, the token is a fake JWT. The first line is a browser on "
        "Harbor's UI API, not part of the pull.",
    ],
    "004-harbor-login": [
        "Reconstructed from seed 004 (Harbor's access log of `docker login`, and the same requests made with "
        "curl, 2022); the Basic credentials and tokens are fakes.",
    ],
    "004-harbor-pull": [
        "Reconstructed from seed 004 (Harbor's access log of a pull of test/busybox, and the same requests "
        "made with curl, 2022); the Basic credentials and token are fakes.",
    ],
}


def build(name: str):
    from pulltrace.capture.importers import load_exchanges
    from pulltrace.pipeline import build_trace

    exchanges = load_exchanges(SEEDS / f"{name}.json")
    trace = build_trace(exchanges, source=f"seed:{name}")
    trace.notes = list(NOTES.get(name, []))
    return trace


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from pulltrace.model import write_atomically

    for path in sorted(SEEDS.glob("*.json")):
        trace = build(path.stem)
        write_atomically(OUT / path.name, trace.to_json() + "\n")
        print(f"wrote {OUT / path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
