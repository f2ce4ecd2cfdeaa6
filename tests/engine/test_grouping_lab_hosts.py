"""Real clients through one proxy on the registry shapes issue 10 had proven on recorded
exchanges only: a token realm on another host under a path (self-hosted GitLab), manifests and
blobs redirected to another registry (registry.k8s.io), a pull-through mirror that is itself a
client of the same proxy (cold cache, then warm), and all of these pulled at once."""

from __future__ import annotations

import copy
import json
import os
import subprocess

import httpx
import pytest
from engineclients import Clients, agents, hosts, tokens_with_their_retries, wait

from devtools.mitmdump import free_port
from pulltrace.lab.endpoints import GITLAB_REALM_PATH, GITLAB_SERVICE, K8S_BACKEND_PREFIX
from pulltrace.lab.lab import REGISTRY_BIN
from pulltrace.lab.procs import wait_until
from pulltrace.lab.registries import registry_specs
from pulltrace.model import Session, StepKind
from pulltrace.sessions import AUTH_ANONYMOUS, AUTH_CREDENTIALS

pytestmark = pytest.mark.lab


def _kinds(session: Session) -> list[StepKind]:
    return [s.kind for s in session.steps]


def _pulls(trace) -> list[Session]:
    return [s for s in trace.sessions if s.action == "pull"]


def _rules(session: Session) -> list[str]:
    return [f.rule for f in session.findings]


@pytest.fixture
def clients(capture, tmp_path):
    c = Clients(capture, tmp_path)
    yield c
    c.cleanup()


@pytest.fixture
def dockerd(lab, capture):
    d = lab.docker("engine-grouping", proxy=capture.url)
    d.forget_images()
    return d


# -- a token realm on another host, under a path (self-hosted GitLab) ----------------------


def _assert_gitlab_pull(lab, session: Session, image: str, layers: int) -> None:
    registry, gitlab = lab.host("gitlab-registry"), lab.host("gitlab")
    assert session.summary.image == f"{registry}/{image}:latest"
    assert session.summary.registry == registry and session.summary.mirror is None
    kinds = _kinds(session)
    assert (kinds.count(StepKind.PING), kinds.count(StepKind.TOKEN)) == (1, 1)
    token = next(s for s in session.steps if s.kind is StepKind.TOKEN)
    assert token.exchange.url.startswith(f"https://{gitlab}{GITLAB_REALM_PATH}?")
    assert f"service={GITLAB_SERVICE}" in token.exchange.url
    assert session.summary.auth == AUTH_ANONYMOUS
    assert session.summary.scopes_requested == [f"repository:{image}:pull"]
    assert session.summary.layers_fetched == layers and session.findings == []


@pytest.mark.parametrize("client", ["skopeo", "podman", "docker"])
def test_a_realm_on_the_gitlab_host_is_part_of_each_clients_pull(lab, capture, clients, client, request):
    ref = f"{lab.host('gitlab-registry')}/library/three:latest"
    if client == "docker":
        wait(clients.docker(request.getfixturevalue("dockerd"), ref))
    else:
        wait(getattr(clients, client)(ref))
    (session,) = capture.trace().sessions
    _assert_gitlab_pull(lab, session, "library/three", 3)
    assert hosts(session) == {lab.host("gitlab-registry"), lab.host("gitlab")}


# -- manifests and blobs redirected to another registry (registry.k8s.io) -------------------


def _assert_k8s_pull(lab, session: Session, image: str, layers: int) -> None:
    front, backend = lab.host("k8s"), lab.host("k8s-backend")
    # The image the user asked for, on the registry they asked; the backend only served it.
    assert session.summary.image == f"{front}/{image}:latest"
    assert (session.summary.registry, session.summary.mirror, session.summary.fallback) == (front, None, None)
    assert hosts(session) == {front, backend}
    served = [s for s in session.steps if s.exchange.url.split("/")[2] == backend]
    redirects = {s.id: s for s in session.steps if s.exchange.status == 307}
    assert served and all(s.linked("follows") and s.linked("follows")[0] in redirects for s in served)
    for step in served:
        assert f"/v2/{K8S_BACKEND_PREFIX}/{image}/" in step.exchange.url
    manifests = [s for s in served if s.kind in (StepKind.MANIFEST, StepKind.MANIFEST_HEAD, StepKind.MANIFEST_INDEX)]
    assert manifests and all(s.facts.served_by == backend for s in manifests)
    assert all(s.repository == image for s in session.steps if s.repository)
    assert session.summary.auth == "none"
    assert session.summary.layers_fetched == layers and session.findings == []


@pytest.mark.parametrize("client", ["skopeo", "ctr", "docker"])
def test_a_manifest_redirected_to_another_registry_is_one_pull_of_the_front_registry(lab, capture, clients,
                                                                                      client, request):
    ref = f"{lab.host('k8s')}/library/three:latest"
    if client in ("docker", "ctr"):
        wait(getattr(clients, client)(request.getfixturevalue("dockerd"), ref))
    else:
        wait(clients.skopeo(ref))
    (session,) = capture.trace().sessions
    _assert_k8s_pull(lab, session, "library/three", 3)


# -- a pull-through mirror seen by the same proxy, cold then warm ---------------------------


@pytest.fixture
def cold_mirror(lab, capture, tmp_path):
    """The lab's mirror configuration (upstream hub, admin credentials) with an empty storage,
    on its own port with TLS, fetching upstream through the capture and trusting its CA.
    Clients reach it as mirror.<lab domain>:<port> (a name: Go never proxies loopback)."""
    spec = next(s for s in registry_specs(lab.settings, lab.pki.signing_cert, lab.paths.conf / "htpasswd")
                if s.name == "mirror")
    port = free_port()
    config = copy.deepcopy(spec.config)
    config["http"]["addr"] = f"127.0.0.1:{port}"
    config["http"]["tls"] = {"certificate": str(lab.pki.server_cert), "key": str(lab.pki.server_key)}
    config["storage"]["filesystem"]["rootdirectory"] = str(tmp_path / "mirror-storage")
    del config["middleware"]  # blobs from itself: the lab's mirror-cdn serves only the lab mirror's storage
    conf = tmp_path / "cold-mirror.yml"
    conf.write_text(json.dumps(config))
    bundle = tmp_path / "cold-mirror-ca.pem"
    bundle.write_bytes(lab.pki.bundle.read_bytes() + b"\n" + capture.ca_cert.read_bytes())
    # docker-registry maps every REGISTRY_* variable onto its configuration: none may leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_") and "proxy" not in k.lower()}
    env.update(HTTPS_PROXY=capture.url, https_proxy=capture.url, SSL_CERT_FILE=str(bundle))
    log = (tmp_path / "cold-mirror.log").open("wb")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(conf)], env=env, stdout=log, stderr=subprocess.STDOUT)
    host = f"{lab.host('mirror')}:{port}"

    def answers() -> bool:
        try:  # straight to the mirror, not through the capture
            with httpx.Client(verify=lab.ssl_context(), trust_env=False, timeout=2) as client:
                return client.get(f"https://{host}/v2/").status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None
    assert wait_until(answers, 30) and proc.poll() is None, (tmp_path / "cold-mirror.log").read_text()[-2000:]
    yield host
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def _upstream_blob_fetches(session: Session) -> list:
    return [s for s in session.steps if s.kind in (StepKind.CDN_DOWNLOAD, StepKind.LAYER_BLOB, StepKind.CONFIG_BLOB)]


def test_a_cold_pull_through_mirror_fetching_through_the_same_proxy_is_its_own_client(lab, capture, clients,
                                                                                       cold_mirror):
    ref = f"{cold_mirror}/library/tiny:latest"
    wait(clients.skopeo(ref))  # cold: the mirror fetches manifest and blobs from hub
    wait(clients.skopeo(ref))  # warm: the mirror asks hub about the tag only
    trace = capture.trace()
    hub = lab.host("hub")
    assert not any("transport.proxy-bypass" in _rules(s) for s in trace.sessions)
    # The mirror keeps one challenge and asks a token per upstream request: each token is in
    # the pull of the request it was presented with.
    assert all(tokens_with_their_retries(s) for s in trace.sessions)
    of_mirror = [s for s in _pulls(trace) if s.summary.registry == cold_mirror]
    upstream = [s for s in _pulls(trace) if s.summary.registry == hub]
    assert len(_pulls(trace)) == len(of_mirror) + len(upstream)
    # The client: two complete pulls of the mirror, nothing of hub's in them.
    assert [s.summary.image for s in of_mirror] == [ref, ref]
    for session in of_mirror:
        assert agents(session) == {"skopeo"} and hosts(session) == {cold_mirror}
        assert session.summary.layers_fetched == 1 and session.findings == []
    # The mirror: a client of hub in its own right, with its own credentials.
    cold, *warm = upstream
    assert "skopeo" not in agents(cold) and hosts(cold) <= {hub, lab.host("auth"), lab.host("cdn")}
    assert cold.summary.image == f"{hub}/library/tiny:latest" and cold.summary.auth == AUTH_CREDENTIALS
    assert cold.summary.layers_fetched == 1 and cold.findings == []
    assert cold.steps[-1].exchange.started_at < of_mirror[1].steps[0].exchange.started_at
    # Warm: hub is asked about the tag again, no blob comes from upstream.
    assert warm, "the warm pull asks hub about the tag"
    for session in warm:
        assert _upstream_blob_fetches(session) == [] and session.findings == []
        assert session.summary.image == f"{hub}/library/tiny:latest"
    assert all(not _upstream_blob_fetches(s) for s in trace.sessions
               if s.steps[0].exchange.started_at > of_mirror[1].steps[0].exchange.started_at)


# -- all at once ---------------------------------------------------------------------------


def test_clients_pulling_from_these_hosts_and_hub_at_once_each_get_their_own_complete_pull(
        lab, capture, clients, dockerd):
    # All from one address, as programs on one node are: two of them pull the same image of
    # the same registry, and only the protocol's links (and their User-Agents) tell them apart.
    gitlab, k8s, hub = lab.host("gitlab-registry"), lab.host("k8s"), lab.host("hub")
    pulls = [  # (program, what its User-Agent starts with, image)
        (clients.skopeo, "skopeo", f"{gitlab}/library/tiny"),
        (clients.podman, "containers", f"{gitlab}/library/busybox"),
        (clients.podman, "containers", f"{k8s}/library/tiny-plus"),
        (clients.skopeo, "skopeo", f"{k8s}/library/tiny-plus"),
        (lambda ref: clients.docker(dockerd, ref), "docker", f"{k8s}/library/three"),
        (lambda ref: clients.ctr(dockerd, ref), "containerd", f"{hub}/library/busybox"),
        (clients.skopeo, "skopeo", f"{hub}/library/three"),
    ]
    wait(*(start(f"{image}:latest") for start, _, image in pulls))
    trace = capture.trace()
    assert sorted((s.summary.image, "/".join(sorted(agents(s)))) for s in trace.sessions) == sorted(
        (f"{image}:latest", agent) for _, agent, image in pulls)
    # Each step in the pull of the program that sent it, each token with the request it was for.
    assert all(tokens_with_their_retries(s) for s in trace.sessions)
    for session in trace.sessions:
        image = session.summary.image.removesuffix(":latest")
        layers = len(lab.images[image.split("/", 1)[1]].layers)
        if image.startswith(gitlab):
            _assert_gitlab_pull(lab, session, image.split("/", 1)[1], layers)
        elif image.startswith(k8s):
            _assert_k8s_pull(lab, session, image.split("/", 1)[1], layers)
        else:
            assert hosts(session) == {hub, lab.host("auth"), lab.host("cdn")}
            assert session.summary.layers_fetched == layers and session.findings == [], image
