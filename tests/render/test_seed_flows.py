"""Each seed post's step table, transcribed by hand from /work/shared/seeds, must come
out of the renderer with the same rows in the same order. The rows are read back
from the rendered Markdown step table, so this checks what a reader sees."""

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from render_factory import seed000_trace

from pulltrace.model import Trace, load_trace
from pulltrace.render.markdown import render_markdown

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "samples" / "seeds"
C000 = "5b0d59026729b68570d99bc4f3f7c31a2e4f2a5736435641565d93e7c25bd2c3"


@dataclass(frozen=True)
class Row:
    method: str
    path: str  # a regex the URL path must match from its start
    status: int
    host: str | None = None
    optional: bool = False  # a request the post does not print but its client sends


def G(path, status, host=None, optional=False):
    return Row("GET", path, status, host, optional)


# Seed 000: the five-row table of `docker pull daocloud.io/busybox`.
SEED_000 = [[
    G("/v2/$", 401, "daocloud.io"),
    G("/auth$", 200, "daohub-auth.daocloud.io"),
    G("/v2/busybox/manifests/latest$", 200, "daocloud.io"),
    G(f"/v2/busybox/blobs/sha256:{C000}$", 307, "daocloud.io"),
    G(f"/docker/registry/v2/blobs/sha256/5b/{C000}/data$", 200, "daohub.ufile.ucloud.com.cn"),
]]

A157 = "sha256:a15790640a6690aa1730c38cf0a440e2aa44aaca9b0e8931a9f2b0d7cc90fd65"
A24B = "a24bb4013296f61e89ba57005a7b3e52274d8edd3ae2077d04395f806b63d83e"
# Seed 001: four pulls with full transcripts.
SEED_001 = [
    [  # Docker Hub
        G("/v2/$", 401, "registry-1.docker.io"),
        G("/token$", 200, "auth.docker.io"),
        G("/v2/library/alpine/manifests/latest$", 200, "registry-1.docker.io"),
        G(f"/v2/library/alpine/manifests/{A157}$", 200, "registry-1.docker.io"),
        G(f"/v2/library/alpine/blobs/sha256:{A24B}$", 307, "registry-1.docker.io"),
        G(f"/registry-v2/docker/registry/v2/blobs/sha256/a2/{A24B}/data$", 200, "production.cloudflare.docker.com"),
    ],
    [  # an Aliyun registry mirror: no auth
        G("/v2/$", 200, "2h3po24q.mirror.aliyuncs.com"),
        G("/v2/library/alpine/manifests/latest$", 200, "2h3po24q.mirror.aliyuncs.com"),
        G(f"/v2/library/alpine/manifests/{A157}$", 200, "2h3po24q.mirror.aliyuncs.com"),
        G(f"/v2/library/alpine/blobs/sha256:{A24B}$", 307, "2h3po24q.mirror.aliyuncs.com"),
        G(f"/docker/registry/v2/blobs/sha256/a2/{A24B}/data$", 200,
          "acs-cn-hangzhou-mirror.oss-cn-hangzhou.aliyuncs.com"),
    ],
    [  # gcr.io: realm on the same host, 302s, storage GETs in another order
        G("/v2/$", 401, "gcr.io"),
        G("/v2/token$", 200, "gcr.io"),
        G("/v2/google-containers/kube-controller-manager/manifests/v1.16.10$", 200, "gcr.io"),
        G("/v2/google-containers/kube-controller-manager/manifests/sha256:7ff962b6", 200, "gcr.io"),
        G("/v2/google-containers/kube-controller-manager/blobs/sha256:83b44832", 302, "gcr.io"),
        G("/v2/google-containers/kube-controller-manager/blobs/sha256:7cc17f1d", 302, "gcr.io"),
        G("/v2/google-containers/kube-controller-manager/blobs/sha256:95b2e4f5", 302, "gcr.io"),
        G("/artifacts.google-containers.appspot.com/containers/images/sha256:7cc17f1d", 200, "storage.googleapis.com"),
        G("/artifacts.google-containers.appspot.com/containers/images/sha256:95b2e4f5", 200, "storage.googleapis.com"),
        G("/artifacts.google-containers.appspot.com/containers/images/sha256:83b44832", 200, "storage.googleapis.com"),
    ],
    [  # quay.io: 302s with an HTML body to a CDN
        G("/v2/$", 401, "quay.io"),
        G("/v2/auth$", 200, "quay.io"),
        G("/v2/watchdogpolska/alpine-curl/manifests/latest$", 200, "quay.io"),
        G("/v2/watchdogpolska/alpine-curl/blobs/sha256:c365e8ee", 302, "quay.io"),
        G("/v2/watchdogpolska/alpine-curl/blobs/sha256:7e7499db", 302, "quay.io"),
        G("/sha256/c3/c365e8ee", 200, "cdn02.quay.io"),
        G("/sha256/7e/7e7499db", 200, "cdn02.quay.io"),
    ],
]

# Seed 003: Harbor's nginx access log (the UI's tags call, then the pull; blobs 200).
SEED_003 = [
    [G("/api/repositories/ccloud/ccloud-server/tags$", 200)],
    [
        G("/v2/$", 401),
        G("/service/token$", 200),
        G("/v2/ccloud/ccloud-server/manifests/master-20f6fe2$", 200),
        G("/v2/ccloud/ccloud-server/blobs/sha256:2ae74aa5", 200),
        G("/v2/ccloud/ccloud-server/blobs/sha256:e3bb9940", 200),
        G("/v2/ccloud/ccloud-server/blobs/sha256:85ab9793", 200),
        G("/v2/ccloud/ccloud-server/blobs/sha256:1a055936", 200),
        G("/v2/ccloud/ccloud-server/blobs/sha256:dc03da31", 200),
    ],
]

# Seed 004: `docker login` from the access log, then the pull walked through with curl.
SEED_004 = [
    [G("/v2/$", 401), G("/service/token$", 200), G("/v2/$", 200), G("/$", 308),
     G("/v2/$", 401), G("/service/token$", 200), G("/v2/$", 200)],
    [
        G("/v2/$", 401, optional=True),  # the curl walk-through starts at the token; docker pings first
        G("/service/token$", 200),
        Row("HEAD", "/v2/test/busybox/manifests/latest$", 200),
        G("/v2/test/busybox/manifests/sha256:62ffc2ed", 200),
        G("/v2/test/busybox/blobs/sha256:beae173c", 200),
        G("/v2/test/busybox/blobs/sha256:5cc84ad3", 200),
    ],
]

FLOWS = {"000": SEED_000, "001": SEED_001, "003": SEED_003, "004": SEED_004}


def table_rows(trace: Trace) -> list[list[tuple[str, str, str, int]]]:
    """(method, host, path, status) per row of each session's rendered step table."""
    md = render_markdown(trace)
    sessions, current = [], None
    for line in md.splitlines():
        if line.startswith("| Step | Kind | Request | Response |"):
            current = []
            sessions.append(current)
            continue
        if current is not None and line.startswith("|---"):
            continue
        if current is not None and line.startswith("| ["):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            request = cells[2].split("<br>")[0].replace("\\", "").replace("&amp;", "&")
            method, url, _ = request.split(" ")
            status = int(cells[3].split("<br>")[0].split(" ")[1])
            parts = urlsplit(url)
            current.append((method, parts.netloc, parts.path, status))
            continue
        current = None
    return sessions


def matches(expected: list[Row], rows: list[tuple[str, str, str, int]]) -> bool:
    i = 0
    for want in expected:
        got = rows[i] if i < len(rows) else None
        ok = got is not None and (
            got[0] == want.method and got[3] == want.status and re.match(want.path, got[2])
            and (want.host is None or got[1] == want.host)
        )
        if ok:
            i += 1
        elif not want.optional:
            return False
    return i == len(rows)


def seed_sessions(seed: str) -> list[list[tuple[str, str, str, int]]]:
    files = sorted(SEEDS.glob(f"{seed}*.json"))
    if not files:
        pytest.skip(f"samples/seeds/{seed}*.json not committed yet")
    return [rows for f in files for rows in table_rows(load_trace(f))]


@pytest.mark.parametrize("seed", sorted(FLOWS))
def test_seed_step_tables_match_the_blog(seed):
    sessions = seed_sessions(seed)
    unmatched = [flow for flow in FLOWS[seed] if not any(matches(flow, rows) for rows in sessions)]
    assert unmatched == [], f"rendered tables: {sessions}"
    assert len(sessions) == len(FLOWS[seed]), "a session the post does not show"


def test_seed_002_goes_through_the_three_proxy_prefixes():
    sessions = seed_sessions("002")
    assert len(sessions) == 1
    rows = sessions[0]
    assert [(m, p.split("/")[1], s) for m, _, p, s in rows[:3]] == [
        ("GET", "docker-registry", 401), ("GET", "docker-auth", 200), ("GET", "docker-registry", 200)]
    blobs = rows[3:]
    assert blobs and len(blobs) % 2 == 0
    for redirect, download in zip(blobs[::2], blobs[1::2], strict=True):
        assert redirect[2].startswith("/docker-registry/v2/") and redirect[3] == 307
        assert download[2].startswith("/docker-blob/") and download[3] == 200


def test_the_hand_built_seed_000_matches_too():
    assert matches(SEED_000[0], table_rows(seed000_trace())[0])


def test_a_missing_or_reordered_row_is_caught():
    rows = table_rows(seed000_trace())[0]
    assert not matches(SEED_000[0], rows[:-1])
    assert not matches(SEED_000[0], [rows[1], rows[0], *rows[2:]])
    assert not matches(SEED_000[0], rows + [rows[-1]])
