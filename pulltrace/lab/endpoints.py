"""The lab's public endpoints: what each hostname is for and how to tell it is healthy."""

from __future__ import annotations

from dataclasses import dataclass

from pulltrace.lab import faults, images, slow
from pulltrace.lab.settings import LabSettings

HARBOR_SERVICE = "harbor-registry"


@dataclass(frozen=True)
class Endpoint:
    name: str
    host: str
    url: str          # base URL, no trailing slash: `https://hub.pulltrace.test`
    flow: str         # the real-world flow it reproduces
    probe: str        # URL probed by `lab status`
    healthy: frozenset[int]
    registry: bool = True
    service: str | None = None  # the `service` of its Bearer challenge (the token's `aud`)

    @property
    def reference_host(self) -> str:
        """What goes before the repository in an image reference: `hub.pulltrace.test`."""
        return self.url.split("://", 1)[1]


def endpoints(s: LabSettings) -> dict[str, Endpoint]:
    """Every lab endpoint by name, in the order `lab status` prints them."""
    b = s.https_base
    reg = frozenset({200, 401})

    def ep(name: str, flow: str, probe_path: str = "/v2/", healthy: frozenset[int] = reg,
           registry: bool = True, url: str | None = None, service: str | None = None) -> Endpoint:
        base = url or b(name)
        return Endpoint(name, s.host(name), base, flow, base + probe_path, healthy, registry, service)

    out = [
        ep("auth", "token service: GET ?scope= (Basic or anonymous), OAuth2 POST password/refresh_token",
           "/healthz", frozenset({200}), registry=False),
        ep("hub", "Docker Hub: token auth (realm on auth.), blobs 307 → cdn", service=s.host("hub")),
        ep("cdn", "storage behind hub's 307: serves blobs, logs whether Authorization arrived",
           "/", frozenset({403, 404}), registry=False),
        ep("gcr", "gcr.io: token realm on the same host (/v2/token), blobs 302 with {\"errors\":[]}",
           service=s.host("gcr")),
        ep("basic", "htpasswd Basic auth (docker login), blobs 200"),
        ep("harbor", "Harbor: realm /service/token, service=harbor-registry, blobs 200", service=HARBOR_SERVICE),
        ep("mirror", "pull-through cache of hub, anonymous; dockerd's registry-mirrors; cached blobs 307 → mirror-cdn"),
        ep("mirror-cdn", "storage behind the mirror's 307", "/", frozenset({403, 404}), registry=False),
        ep("proxy",
           "one host, three prefixes: /docker-registry/ /docker-auth/ /docker-blob/ (realm and Location rewritten)",
           "/docker-registry/v2/", service=s.host("hub")),
        ep("plain", "plain HTTP (insecure-registries), anonymous, blobs 200", url=s.plain_base),
        # Faults: hub's registry behind nginx, so images, users and tokens are hub's.
        ep("quota", f"hub + Docker Hub's quota headers on manifests: RateLimit-Limit {faults.RATE_LIMIT}, "
           f"RateLimit-Remaining {faults.remaining(faults.QUOTA_REMAINING)}", service=s.host("hub")),
        ep("ratelimit", f"hub with its quota spent: manifest GETs 429 TOOMANYREQUESTS, Retry-After "
           f"{faults.RETRY_AFTER}; HEADs and blobs still 200", service=s.host("hub")),
        ep("expired", "hub whose blobs 307 to an expired presigned S3 URL on expired-cdn", service=s.host("hub")),
        ep("expired-cdn", f"refuses every blob: 403 {faults.EXPIRED_CODE} \"{faults.EXPIRED_MESSAGE}\" (S3 XML)",
           "/docker/registry/v2/blobs/", frozenset({403}), registry=False),
        ep("loop", "hub whose blobs 307 to loop-cdn, which 307s back here: a redirect loop", service=s.host("hub")),
        ep("loop-cdn", "a CDN whose origin redirect names the registry: 307 back to loop", "/v2/",
           frozenset({307}), registry=False),
        # Slow pulls (pulltrace/lab/slow.py).
        ep("slow", "hub whose blobs 307 to edge, a caching CDN in front of throttle", service=s.host("hub")),
        ep("throttled", "hub whose blobs 307 straight to throttle", service=s.host("hub")),
        ep("edge", "a CDN edge with a real cache (X-Cache: MISS, then HIT; Via, X-Served-By), origin throttle",
           "/", frozenset({404}), registry=False),
        ep("throttle", f"the registry's storage; limit_rate {slow.SLOW_RATE} on layer {images.SLOW_LAYER} "
           f"of {images.SLOW_REPOSITORY}", "/", frozenset({404}), registry=False),
    ]
    return {e.name: e for e in out}
