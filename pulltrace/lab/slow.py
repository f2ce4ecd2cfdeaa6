"""The lab's slow pulls (issue 13): a caching CDN edge, a rate-limited blob host, and an image
whose one layer crawls, so "why is my pull slow" is answered on real traffic.

- `slow.` is hub's registry behind nginx; its blob 307s point at `edge.` instead of `cdn.`.
- `edge.` is a CDN edge with a real cache (nginx `proxy_cache`) in front of `throttle.`; it says
  what its cache did the way CloudFront and Fastly do (`X-Cache`, `Via`, `X-Served-By`), read off
  nginx's own cache state, so a first pull misses and a second one hits.
- `throttle.` serves the registry's storage with `limit_rate` on one blob, layer
  `images.SLOW_LAYER` of `library/slow` (built in images.py); it is both the edge's origin
  (over a unix socket) and a host clients reach.
- `throttled.` is hub's registry whose blob 307s point straight at `throttle.` (no cache).

Logs: `edge-access` (each request with cache=HIT|MISS, from nginx's `$upstream_cache_status`) and
`throttle-access` in `<state>/logs/`.

Users ask which host or cache served a slow layer (moby#19916, docker/hub-feedback#1675,
containerd#9846); these hosts let the doctor's speed rules be tested with real clients.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pulltrace.lab import images
from pulltrace.lab.settings import LabSettings

# nginx's limit_rate on that one blob: about 3.3 s for its 1.3 MiB, while its peers take well under
# a second even through a proxy on a busy two-core machine (about 10× faster).
SLOW_RATE = "400k"
EDGE_NODE = "cache-lab-edge1"  # the edge's name in X-Served-By, as Fastly names its cache nodes


def slow_digest() -> str:
    """The digest of the layer `throttle.` rate-limits."""
    return images.build_slow().layers[images.SLOW_LAYER - 1].digest


def cache_dir(s: LabSettings) -> Path:
    return s.paths.run / "edge-cache"


def origin_socket(s: LabSettings) -> Path:
    """Where `throttle.` also listens for the edge: a unix socket needs no port of its own."""
    return s.paths.run / "throttle.sock"


def nginx_values(s: LabSettings) -> dict[str, str]:
    """What nginx.conf.j2's slow-pull blocks need."""
    return {
        "cache": str(cache_dir(s)),
        "socket": str(origin_socket(s)),
        "hex": slow_digest().split(":", 1)[1],
        "rate": SLOW_RATE,
        "node": EDGE_NODE,
    }


def purge_edge(s: LabSettings) -> int:
    """Empty the edge's cache, as a CDN's purge does, so the next pull is a cold one; returns how many
    cached blobs were dropped. nginx treats a cache file that is gone as a MISS and stores it again."""
    root = cache_dir(s)
    if not root.exists():
        return 0
    dropped = 0
    for entry in root.iterdir():
        if entry.is_dir():
            dropped += sum(1 for p in entry.rglob("*") if p.is_file())
            shutil.rmtree(entry, ignore_errors=True)
        else:
            dropped += 1
            entry.unlink(missing_ok=True)
    return dropped
