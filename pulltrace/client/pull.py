"""One pull, start to end: resolve the manifest, fetch the blobs, write the image, and keep
the trace of every request made on the way."""

from __future__ import annotations

import os
import platform as host_platform
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pulltrace.client import credentials as creds_mod
from pulltrace.client.auth_flow import RegistryAuth
from pulltrace.client.cache import BlobCache, default_cache_dir
from pulltrace.client.credentials import Credentials
from pulltrace.client.descriptors import check_config, check_manifest
from pulltrace.client.digests import check_digest, is_sha256, sha256_digest
from pulltrace.client.download import DEFAULT_JOBS, BlobJob, BlobOutcome, Downloader
from pulltrace.client.endpoints import Endpoint, Routing
from pulltrace.client.errors import (
    ConnectionFailed,
    DigestMismatch,
    ManifestInvalid,
    ManifestUnsupported,
    PlatformError,
    PullError,
)
from pulltrace.client.progress import make_progress
from pulltrace.client.recorder import Recorder
from pulltrace.client.registry import ManifestBytes, RegistryClient
from pulltrace.client.retry import RetryPolicy, Sleeper
from pulltrace.client.tls import ssl_context
from pulltrace.client.transport import Transport
from pulltrace.client.writers import ImageParts, write_image
from pulltrace.manifest import (
    IMAGE_MANIFEST_TYPES,
    ManifestError,
    ParsedManifest,
    Platform,
    choose_platform,
    parse_manifest,
)
from pulltrace.model import Trace
from pulltrace.reference import ImageReference


def host_default_platform() -> Platform:
    """This machine's platform, as dockerd would pull for it (images are linux here)."""
    return Platform("linux", host_platform.machine() or "amd64").normalised()


@dataclass
class PullOptions:
    reference: ImageReference
    output: Path | None = None
    fmt: str = "docker-archive"
    platform: Platform | None = None
    jobs: int = DEFAULT_JOBS
    cache_dir: Path | None = None
    username: str | None = None
    password: str | None = None
    routing: Routing = field(default_factory=Routing)
    ca_certs: tuple[Path, ...] = ()
    quiet: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: httpx.Timeout = field(default_factory=lambda: httpx.Timeout(30.0, connect=15.0))
    env: Mapping[str, str] | None = None


@dataclass
class Resolved:
    manifest: ManifestBytes
    digest: str
    parsed: ParsedManifest
    platform: Platform | None
    index_digest: str | None = None


@dataclass
class PullResult:
    reference: ImageReference
    endpoint: Endpoint
    manifest_digest: str
    platform: Platform | None
    layers: int
    outcomes: list[BlobOutcome]
    duration_s: float
    output: Path | None
    notes: list[str] = field(default_factory=list)

    @property
    def fetched(self) -> list[BlobOutcome]:
        return [o for o in self.outcomes if o.fetched]

    @property
    def skipped(self) -> list[BlobOutcome]:
        return [o for o in self.outcomes if not o.fetched]

    @property
    def bytes_fetched(self) -> int:
        return sum(o.bytes_fetched for o in self.outcomes)

    def summary_line(self) -> str:
        layers_fetched = sum(1 for o in self.fetched if o.job.role == "layer")
        layers_skipped = sum(1 for o in self.skipped if o.job.role == "layer")
        where = f" -> {self.output}" if self.output else ""
        return (f"pulled {self.reference}  {self.manifest_digest[:19]}…  {self.platform or 'unknown platform'}  "
                f"layers {layers_fetched} fetched, {layers_skipped} cached  {_human(self.bytes_fetched)} "
                f"in {self.duration_s:.2f} s{where}")


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


class Puller:
    """Owns the transport, auth state and recorder of one pull."""

    def __init__(self, options: PullOptions, http_transport: httpx.BaseTransport | None = None) -> None:
        self.options = options
        self.env = os.environ if options.env is None else options.env
        self.recorder = Recorder()
        self.notes: list[str] = []
        self.stop = threading.Event()
        self._creds_cache: dict[str, Credentials | None] = {}
        self._endpoint_hosts: set[str] = set()
        self.auth = RegistryAuth(self._credentials_for, rewrite_realm=options.routing.rewrite_realm
                                 if options.routing.auth_proxy else None)
        self.transport = Transport(
            self.auth, self.recorder, verify=ssl_context(options.ca_certs),
            insecure_hosts=options.routing.insecure, timeout=options.timeout,
            blob_rewrite=options.routing.rewrite_blob if options.routing.blob_proxy else None,
            http_transport=http_transport,
        )

    # -- credentials ----------------------------------------------------------------------
    def _registry_credentials(self) -> Credentials | None:
        if self.options.username:
            return Credentials(self.options.username, self.options.password or "")
        return self._lookup(self.options.reference.domain)

    def _lookup(self, host: str) -> Credentials | None:
        if host not in self._creds_cache:
            self._creds_cache[host] = creds_mod.lookup(host, self.env)
        return self._creds_cache[host]

    def _credentials_for(self, url: httpx.URL) -> Credentials | None:
        host = f"{url.host}:{url.port}" if url.port else url.host
        # Mirrors and reverse proxies of the registry get the registry's credentials (as
        # dockerd gives Docker Hub's to its mirrors); any other host only its own.
        if host in self._endpoint_hosts or url.host in self._endpoint_hosts:
            return self._registry_credentials()
        return self._lookup(host)

    def _logged_in(self) -> str | None:
        found = self._registry_credentials()
        return (found.username or "(identity token)") if found else None

    # -- the pull -------------------------------------------------------------------------
    def run(self) -> PullResult:
        started = time.monotonic()
        ref = self.options.reference
        wanted = self.options.platform or host_default_platform()
        endpoints = self.options.routing.endpoints(ref)
        self._endpoint_hosts = {e.host for e in endpoints} | {httpx.URL(e.base).host for e in endpoints}
        registry, resolved = self._resolve_with_fallback(endpoints, ref, wanted)
        config = resolved.parsed.config
        assert config is not None
        jobs = [BlobJob(config.digest, config.size, config.media_type, "config")]
        jobs += [BlobJob(layer.digest, layer.size, layer.media_type, "layer") for layer in resolved.parsed.layers]
        cache = BlobCache(self.options.cache_dir or default_cache_dir(dict(self.env)))
        total = sum(max(j.size, 0) for j in {j.digest: j for j in jobs}.values())
        progress = make_progress(total, self.options.quiet)
        downloader = Downloader(registry, cache, progress=progress, policy=self.options.retry, stop=self.stop)
        try:
            # The config first: small, and it names the platform of a single-platform image.
            outcomes = [downloader.fetch(jobs[0])]
            check_config(cache.path(config.digest).read_bytes(), config.media_type,
                         f"the config {config.digest[:19]}… of {ref.familiar}", len(resolved.parsed.layers))
            outcomes += downloader.fetch_all(jobs[1:], self.options.jobs)
        finally:
            progress.close()
        platform = resolved.platform or _config_platform(cache, config.digest)
        for o in outcomes:
            if o.restarted:
                self.notes.append(f"blob {o.job.digest[:19]}…: the bytes it resumed onto did not verify (a damaged "
                                  "partial download or a bad Range answer); fetched again from the first byte")
        skipped = [o.job.digest for o in outcomes if not o.fetched]
        if skipped:
            self.notes.append(f"{len(skipped)} blob(s) already in the cache {cache.root}, not fetched: "
                              + ", ".join(d[:19] + "…" for d in skipped))
        parts = ImageParts(
            reference=ref, manifest_bytes=resolved.manifest.body, manifest_digest=resolved.digest,
            manifest_media_type=resolved.parsed.media_type, config=config,
            layers=resolved.parsed.layers, platform=platform,
        )
        if self.options.output is not None:
            fresh = frozenset(o.job.digest for o in outcomes if o.fetched)
            write_image(self.options.fmt, parts, cache, self.options.output, fresh)
        return PullResult(ref, registry.endpoint, resolved.digest, platform, len(resolved.parsed.layers),
                          outcomes, time.monotonic() - started, self.options.output, list(self.notes))

    def _resolve_with_fallback(self, endpoints: list[Endpoint], ref: ImageReference,
                               wanted: Platform) -> tuple[RegistryClient, Resolved]:
        for i, endpoint in enumerate(endpoints):
            try:
                registry = self._connect(endpoint, ref)
                return registry, self._resolve(registry, ref, wanted)
            except (PlatformError, ManifestUnsupported, DigestMismatch):
                raise  # the image itself is the problem; another endpoint serves the same one
            except PullError as e:
                if i == len(endpoints) - 1:
                    raise
                self.notes.append(f"{endpoint.kind} {endpoint.base} failed ({e}); falling back to "
                                  f"{endpoints[i + 1].base}")
        raise AssertionError("no endpoints")

    def _client(self, endpoint: Endpoint, ref: ImageReference) -> RegistryClient:
        return RegistryClient(self.transport, endpoint, ref.repository, display_name=ref.familiar,
                              policy=self.options.retry, sleep=Sleeper(self.stop), logged_in=self._logged_in)

    def _connect(self, endpoint: Endpoint, ref: ImageReference) -> RegistryClient:
        """Ping the endpoint; an --insecure-registry that cannot speak HTTPS is tried over HTTP."""
        registry = self._client(endpoint, ref)
        try:
            registry.ping()
            return registry
        except ConnectionFailed as e:
            if not self.options.routing.is_insecure(endpoint.host) or not endpoint.base.startswith("https:"):
                raise
            plain = endpoint.with_scheme("http")
            self.notes.append(f"{endpoint.host} did not speak HTTPS ({e}); trying plain HTTP as "
                              "--insecure-registry allows")
            registry = self._client(plain, ref)
            registry.ping()
            return registry

    def _resolve(self, registry: RegistryClient, ref: ImageReference, wanted: Platform) -> Resolved:
        """Manifest by tag (HEAD, then GET by digest) or by digest; an index resolved to `wanted`."""
        what = f"manifest {ref.familiar}"
        if ref.digest:
            pinned = check_digest(ref.digest, f"the reference {ref.familiar}")
            manifest = registry.get_manifest(pinned)
            digest = self._verify(manifest, what, fetched_by=pinned)
        else:
            announced = registry.head_manifest(ref.tag or "latest")
            manifest = registry.get_manifest(announced or ref.tag or "latest")
            digest = self._verify(manifest, what, fetched_by=announced)
        parsed = _parse(manifest, ref, what)
        if not parsed.is_index:
            _require_image(parsed, ref)
            return Resolved(manifest, digest, parsed, None)
        chosen = choose_platform(parsed, wanted)
        if chosen is None:
            available = ", ".join(str(p) for p in parsed.platforms()) or "none named"
            raise PlatformError(f"{ref.familiar} has no image for {wanted}; it has: {available} "
                                "(choose one with --platform)")
        child_what = f"platform manifest {chosen.platform} of {ref.familiar}"
        child = registry.get_manifest(chosen.digest)
        digest_child = self._verify(child, child_what, fetched_by=chosen.digest, size=chosen.size)
        parsed_child = _parse(child, ref, child_what)
        _require_image(parsed_child, ref)
        return Resolved(child, digest_child, parsed_child, chosen.platform, index_digest=digest)

    def _verify(self, manifest: ManifestBytes, what: str, fetched_by: str | None, size: int | None = None) -> str:
        """The manifest's digest, computed from its bytes; bytes that break a promise are refused.

        Fetched by digest (pinned, HEAD's Docker-Content-Digest, an index entry), the bytes
        must hash to it. Fetched by tag, they must hash to the response's own
        Docker-Content-Digest when it names a sha256 (containerd trusts that header and
        then verifies the bytes against it, so a registry whose header lies fails there
        too). A wrong header beside bytes that verified is only noted.
        """
        actual = sha256_digest(manifest.body)
        if fetched_by and actual != fetched_by:
            raise DigestMismatch(f"{what} fetched by digest {fetched_by} arrived as bytes hashing to {actual}; "
                                 "refusing it (altered on the way, or the registry's storage is damaged)")
        header = (manifest.header_digest or "").strip()
        if not fetched_by and is_sha256(header) and header != actual:
            raise DigestMismatch(f"{what} fetched by tag arrived as bytes hashing to {actual}, but its "
                                 f"Docker-Content-Digest is {header}; refusing it (altered on the way?)")
        if header and header != actual:
            self.notes.append(f"Docker-Content-Digest {header[:80]} disagrees with the manifest bytes ({actual}, "
                              f"exchange {manifest.exchange_id}); pulltrace uses the bytes' digest")
        if size is not None and size != len(manifest.body):
            raise ManifestInvalid(f"{what} is {len(manifest.body)} bytes but the index says {size}; refusing it")
        return actual

    # -- the trace ------------------------------------------------------------------------
    def trace(self, show_secrets: bool = False, error: str | None = None,
              wanted_platform: str | None = None) -> Trace:
        """Every recorded exchange, masked unless asked otherwise, as a classified trace."""
        from pulltrace.pipeline import build_trace
        from pulltrace.redact import mask_exchange

        exchanges = self.recorder.exchanges(None if show_secrets else mask_exchange)
        trace = build_trace(exchanges, source="client", wanted_platform=wanted_platform)
        trace.notes.extend(self.notes)
        if error:
            trace.notes.append(f"pull failed: {error}")
        return trace

    def close(self) -> None:
        self.transport.close()


def _parse(manifest: ManifestBytes, ref: ImageReference, what: str) -> ParsedManifest:
    check_manifest(manifest.body, what)  # every descriptor valid before parse_manifest trusts them
    try:
        parsed = parse_manifest(manifest.body, manifest.content_type)
    except (ManifestError, ValueError, TypeError, KeyError, OverflowError, RecursionError) as e:
        raise ManifestInvalid(f"{what}: {e}") from None
    if parsed.is_schema1:
        raise ManifestUnsupported(
            f"{ref.familiar} is a schema1 manifest (deprecated; docker ≥ 20.10 refuses it too); "
            "rebuild and push it with a current docker or buildah")
    return parsed


def _require_image(parsed: ParsedManifest, ref: ImageReference) -> None:
    if parsed.is_index:
        raise ManifestUnsupported(f"{ref.familiar}: an index inside an index is not supported")
    if parsed.media_type not in IMAGE_MANIFEST_TYPES or parsed.config is None:
        raise ManifestUnsupported(f"{ref.familiar}: manifest of type {parsed.media_type or 'unknown'} "
                                  "is not an image pulltrace can pull")


def _config_platform(cache: BlobCache, digest: str) -> Platform | None:
    import json

    try:
        data = json.loads(cache.path(digest).read_bytes())
        return Platform(data["os"], data["architecture"], data.get("variant")).normalised()
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
