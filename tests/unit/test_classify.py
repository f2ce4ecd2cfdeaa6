"""Classification of the seed transcripts' exchanges: kinds, in order, and their links."""

from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pulltrace.capture.importers import load_exchanges
from pulltrace.classify import V2Path, classify, client_key, parse_v2_path
from pulltrace.model import Exchange, StepKind

SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds"

P, T, L = StepKind.PING, StepKind.TOKEN, StepKind.LOGIN
IDX, MAN, HEAD = StepKind.MANIFEST_INDEX, StepKind.MANIFEST, StepKind.MANIFEST_HEAD
CFG, LAY, RED, CDN = StepKind.CONFIG_BLOB, StepKind.LAYER_BLOB, StepKind.BLOB_REDIRECT, StepKind.CDN_DOWNLOAD
OTH = StepKind.OTHER


def steps_of(name: str):
    return classify(load_exchanges(SEEDS / f"{name}.json"))


def links(step) -> list[tuple[str, str, str]]:
    return [(link.rel, link.target, link.note) for link in step.links]


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("000-daocloud-busybox", [P, T, MAN, RED, CDN]),
        ("001-dockerhub-alpine", [P, T, IDX, MAN, RED, CDN]),
        ("001-aliyun-mirror-alpine", [P, IDX, MAN, RED, CDN]),
        ("001-gcr-kube-controller-manager", [P, T, IDX, MAN, RED, RED, RED, CDN, CDN, CDN]),
        ("001-quay-alpine-curl", [P, T, MAN, RED, RED, CDN, CDN]),
        ("002-reverse-proxy-alpine", [P, T, MAN, RED, CDN, RED, CDN]),
        ("003-harbor-pull", [OTH, P, T, MAN, CFG, LAY, LAY, LAY, LAY]),
        ("004-harbor-pull", [P, T, HEAD, MAN, CFG, LAY]),
        ("004-harbor-login", [P, L, P, OTH, P, L, P]),
    ],
)
def test_seed_kinds_in_order(name, kinds):
    assert [s.kind for s in steps_of(name)] == kinds


def test_daocloud_links_token_to_its_challenge_and_redirect_to_its_download():
    s = {step.id: step for step in steps_of("000-daocloud-busybox")}
    assert links(s["000-2"]) == [("answers", "000-1", ""), ("retried-by", "000-3", "")]
    assert s["000-2"].facts.realm == "https://daohub-auth.daocloud.io/auth"
    assert s["000-2"].facts.scopes == ["repository:busybox:pull"]
    assert ("redirects-to", "000-5", "") in links(s["000-4"])
    assert links(s["000-5"]) == [("follows", "000-4", ""), ("blob-of", "000-3", "config")]
    assert s["000-5"].role == "config"
    assert s["000-5"].facts.expected_size == 1497
    assert s["000-5"].facts.expected_media_type == "application/vnd.docker.container.image.v1+json"


def test_docker_hub_index_chooses_the_platform_manifest_and_token_fields_are_read():
    s = {step.id: step for step in steps_of("001-dockerhub-alpine")}
    token = s["001hub-2"]
    assert token.facts.expires_in == 300
    assert token.facts.fields == ["access_token", "expires_in", "issued_at", "token"]
    assert token.facts.claims["access"] == [{"type": "repository", "name": "library/alpine", "actions": ["pull"]}]
    assert token.facts.credential_kind == "anonymous"
    index = s["001hub-3"]
    assert len(index.facts.platforms) == 7
    assert ("chooses", "001hub-4", "linux/amd64") in links(index)
    assert links(s["001hub-4"]) == [("chosen-from", "001hub-3", "linux/amd64")]
    assert s["001hub-4"].facts.platform == "linux/amd64"
    assert links(s["001hub-6"]) == [("follows", "001hub-5", ""), ("blob-of", "001hub-4", "config")]
    # The CDN host appears nowhere in the classifier: the 307's Location made it a download.
    assert s["001hub-6"].facts.digest == "sha256:a24bb4013296f61e89ba57005a7b3e52274d8edd3ae2077d04395f806b63d83e"


def test_gcr_realm_on_the_registry_host_and_302s_with_json_bodies():
    steps = steps_of("001-gcr-kube-controller-manager")
    s = {step.id: step for step in steps}
    assert s["001gcr-2"].facts.realm == "https://gcr.io/v2/token"
    assert s["001gcr-2"].facts.claims is None  # gcr.io tokens are opaque
    # Redirects went out in order layer 1, layer 2, config; downloads came back 2, config, 1.
    assert [(x.id, x.role) for x in steps if x.kind is RED] == [
        ("001gcr-5", "layer 1/2"), ("001gcr-6", "layer 2/2"), ("001gcr-7", "config")]
    assert [(x.id, x.linked("follows"), x.role) for x in steps if x.kind is CDN] == [
        ("001gcr-8", ["001gcr-6"], "layer 2/2"),
        ("001gcr-9", ["001gcr-7"], "config"),
        ("001gcr-10", ["001gcr-5"], "layer 1/2"),
    ]


def test_quay_html_challenge_body_and_html_redirects():
    s = {step.id: step for step in steps_of("001-quay-alpine-curl")}
    assert s["001quay-1"].exchange.response_body_preview == "true"
    assert s["001quay-1"].facts.challenge["realm"] == "https://quay.io/v2/auth"
    assert links(s["001quay-6"]) == [("follows", "001quay-4", ""), ("blob-of", "001quay-3", "layer 2/2")]
    assert links(s["001quay-7"]) == [("follows", "001quay-5", ""), ("blob-of", "001quay-3", "config")]


def test_aliyun_mirror_without_auth():
    steps = steps_of("001-aliyun-mirror-alpine")
    assert not any(x.kind in (T, L) for x in steps)
    assert steps[0].exchange.status == 200
    assert links(steps[4]) == [("follows", "001aliyun-4", ""), ("blob-of", "001aliyun-3", "config")]


def test_path_prefix_and_rewritten_token_and_blob_urls():
    s = {step.id: step for step in steps_of("002-reverse-proxy-alpine")}
    assert s["002-1"].facts.registry == "registry-proxy.example.com/docker-registry"
    # The token request went to the proxy's /docker-auth/, not to the challenge's realm:
    # it is still a token request (scope + service + a token back) answering that challenge.
    assert s["002-2"].linked("answers") == ["002-1"]
    # The blob download went to /docker-blob/, not to the 307's Location: the digest in
    # its path ties it to the redirect.
    assert s["002-5"].linked("follows") == ["002-4"]
    assert s["002-7"].linked("follows") == ["002-6"]
    assert s["002-7"].role == "layer 1/1"


def test_harbor_service_token_with_account_and_blobs_served_directly():
    s = {step.id: step for step in steps_of("003-harbor-pull")}
    token = s["003-3"]
    assert token.facts.realm == "https://docker.gz.test.cn/service/token"
    assert token.facts.account == "admin"
    assert token.facts.service == "harbor-registry"
    assert token.facts.credential_kind == "basic"
    assert [s[f"003-{n}"].role for n in range(5, 10)] == ["config", "layer 1/4", "layer 2/4", "layer 3/4", "layer 4/4"]
    assert all(s[f"003-{n}"].linked("blob-of") == ["003-4"] for n in range(5, 10))
    assert s["003-1"].kind is OTH  # the browser on Harbor's UI API


def test_harbor_head_by_tag_then_get_by_digest():
    s = {step.id: step for step in steps_of("004-harbor-pull")}
    assert s["004pull-3"].facts.digest == "sha256:62ffc2ed7554e4c6d360bce40bbcf196573dd27c4ce080641a2c59867e732dee"
    assert s["004pull-3"].facts.by == "tag"
    assert s["004pull-4"].facts.by == "digest"
    assert links(s["004pull-2"]) == [("answers", "004pull-1", ""), ("retried-by", "004pull-3", "")]
    assert s["004pull-5"].linked("blob-of") == ["004pull-4"]


def test_harbor_login_is_a_token_with_credentials_and_no_scope():
    s = {step.id: step for step in steps_of("004-harbor-login")}
    login = s["004login-2"]
    assert login.facts.client_id == "docker"
    assert login.facts.offline_token is True
    assert login.facts.scopes == []
    assert links(login) == [("answers", "004login-1", ""), ("retried-by", "004login-3", "")]
    assert links(s["004login-6"]) == [("answers", "004login-5", ""), ("retried-by", "004login-7", "")]


def _ex(n, method, url, status=200, req=(), resp=(), body=None, client="10.0.0.1:5000", at=None):
    return Exchange(id=f"x{n}", method=method, url=url, started_at=at if at is not None else float(n),
                    request_headers=list(req), status=status, response_headers=list(resp),
                    response_body_preview=body, client=client)


def test_basic_auth_ping_is_a_login_and_errors_keep_their_intent():
    steps = classify([
        _ex(1, "GET", "https://basic.test/v2/", 401, resp=[("WWW-Authenticate", 'Basic realm="r"')]),
        _ex(2, "GET", "https://basic.test/v2/", 200, req=[("Authorization", "Basic YWRt…")]),
        _ex(3, "GET", "https://basic.test/v2/a/manifests/1", 404, req=[("Authorization", "Basic YWRt…")],
            body='{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'),
        _ex(4, "GET", "https://basic.test/v2/_catalog"),
        _ex(5, "POST", "https://basic.test/v2/a/blobs/uploads/", 202),
        _ex(6, "GET", "https://basic.test/v2/a/tags/list"),
    ])
    assert [s.kind for s in steps] == [P, L, MAN, StepKind.CATALOG, StepKind.UPLOAD, StepKind.CATALOG]
    # A failed manifest request stays a manifest request, and says what failed.
    assert steps[2].error == "404 GET /v2/a/manifests/1: MANIFEST_UNKNOWN"
    assert steps[2].repository == "a"
    assert [s.error for s in steps if s is not steps[2]] == [None] * 5  # the first 401 is a greeting


def test_insufficient_scope_401_is_an_error_but_a_first_challenge_is_not():
    challenge = ("WWW-Authenticate", 'Bearer realm="https://a.test/t",service="s",scope="repository:x:pull"')
    denied = ("WWW-Authenticate",
              'Bearer realm="https://a.test/t",service="s",scope="repository:x:pull",error="insufficient_scope"')
    steps = classify([
        _ex(1, "HEAD", "https://r.test/v2/x/manifests/1", 401, resp=[challenge]),
        _ex(2, "GET", "https://a.test/t?scope=repository%3Ax%3Apull&service=s", 200, body='{"token":"abc"}'),
        _ex(3, "HEAD", "https://r.test/v2/x/manifests/1", 401, req=[("Authorization", "Bearer abc…")], resp=[denied]),
    ])
    assert [s.kind for s in steps] == [HEAD, T, HEAD]
    assert [s.error for s in steps] == [None, None, "401 HEAD /v2/x/manifests/1"]
    # containerd starts with HEAD manifests (no ping): the token answers that challenge,
    # and the same request retried with the token.
    assert steps[1].linked("answers") == ["x1"]
    assert steps[1].linked("retried-by") == ["x3"]


def test_cdn_download_needs_a_redirect_not_a_hostname():
    steps = classify([
        _ex(1, "GET", "https://cdn.test/some/object", 200),
        _ex(2, "GET", "https://r.test/v2/x/blobs/sha256:" + "a" * 64, 307,
            resp=[("Location", "/storage/object?sig=…")]),
        _ex(3, "GET", "https://r.test/storage/object?sig=…", 200),
    ])
    assert [s.kind for s in steps] == [OTH, RED, CDN]
    assert steps[2].linked("follows") == ["x2"]


def test_mirror_ns_parameter_is_recorded():
    steps = classify([_ex(1, "GET", "https://m.test/v2/library/x/manifests/1?ns=docker.io", 200,
                          resp=[("Content-Type", "application/vnd.oci.image.manifest.v1+json")])])
    assert steps[0].kind is MAN
    assert steps[0].facts.ns == "docker.io"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/", V2Path("", "ping")),
        ("/v2", V2Path("", "ping")),
        ("/docker-registry/v2/library/alpine/manifests/latest",
         V2Path("/docker-registry", "manifest", "library/alpine", "latest")),
        ("/v2/a/v2/b/blobs/sha256:" + "0" * 64, V2Path("", "blob", "a/v2/b", "sha256:" + "0" * 64)),
        ("/v2/a/blobs/uploads/", V2Path("", "upload", "a", None)),
        ("/v2/a/blobs/uploads/1234-5", V2Path("", "upload", "a", "1234-5")),
        ("/v2/_catalog", V2Path("", "catalog")),
        ("/v2/a/b/tags/list", V2Path("", "tags", "a/b", "list")),
        ("/v2/token", None),  # gcr's realm
        ("/v2/auth", None),  # quay's realm
        ("/v2/a/blobs/notadigest", None),
        ("/v2/team%2Fapp/manifests/v1", V2Path("", "manifest", "team/app", "v1")),
        ("/service/token", None),
    ],
)
def test_v2_path_grammar(path, expected):
    assert parse_v2_path(path) == expected


def test_client_key_ignores_the_port_but_not_the_user_agent():
    a = Exchange(id="a", method="GET", url="u", started_at=0, client="10.0.0.1:1000",
                 request_headers=[("User-Agent", "docker/20")])
    b = Exchange(id="b", method="GET", url="u", started_at=0, client="10.0.0.1:2000",
                 request_headers=[("User-Agent", "docker/20")])
    c = Exchange(id="c", method="GET", url="u", started_at=0, client="10.0.0.1:2000",
                 request_headers=[("User-Agent", "skopeo/1.9")])
    assert client_key(a) == client_key(b) != client_key(c)


LAB_DATA = Path(__file__).resolve().parents[1] / "data" / "lab"
SAMPLES_LAB = Path(__file__).resolve().parents[2] / "samples" / "lab"
IDX_TYPE = "application/vnd.oci.image.index.v1+json"


def test_ctr_index_got_by_digest_before_its_token_is_an_index():
    # containerd: HEAD by tag (401, then 200 saying "OCI index", digest D), then GET D on a new
    # connection, answered 401 without a body until the fetcher's own token arrives.
    steps = classify(load_exchanges(SAMPLES_LAB / "ctr-pull-multi-oci.json"))
    head, unauthorized, index = steps[2], steps[3], steps[5]
    assert (head.exchange.method, head.exchange.status, head.exchange.content_type) == ("HEAD", 200, IDX_TYPE)
    assert (unauthorized.exchange.method, unauthorized.exchange.status) == ("GET", 401)
    assert unauthorized.reference == head.exchange.response_header("docker-content-digest")
    assert [s.kind for s in steps[:7]] == [HEAD, T, HEAD, IDX, T, IDX, MAN]
    assert unauthorized.facts.media_type_from == head.id
    assert index.facts.media_type_from is None  # its body says what it is
    assert steps[6].linked("chosen-from") == [index.id]


def _head(n, url, media_type, digest, client="10.0.0.1:5000", ua="containerd/1.6"):
    return _ex(n, "HEAD", url, 200, req=[("User-Agent", ua)], client=client,
               resp=[("Content-Type", media_type), ("Docker-Content-Digest", digest)])


def test_a_bodiless_manifest_get_takes_its_kind_from_the_same_clients_head_only():
    digest = "sha256:" + "d" * 64
    base = "https://r.test/v2/x/manifests/"
    denied = [("WWW-Authenticate", 'Bearer realm="https://a.test/t",service="s"')]
    steps = classify([
        _head(1, base + "1", IDX_TYPE, digest),
        _ex(2, "GET", base + digest, 401, req=[("User-Agent", "containerd/1.6")], resp=denied,
            body='{"errors":[{"code":"UNAUTHORIZED"}]}'),
        _ex(3, "GET", base + "1", 503, req=[("User-Agent", "containerd/1.6")]),  # by the tag the HEAD named
        _ex(4, "GET", base + digest, 401, req=[("User-Agent", "skopeo/1.9")], resp=denied),  # another client
        _ex(5, "GET", "https://r.test/v2/y/manifests/" + digest, 401, req=[("User-Agent", "containerd/1.6")],
            resp=denied),  # another repository
    ])
    assert [s.kind for s in steps] == [HEAD, IDX, IDX, MAN, MAN]
    assert steps[2].error == "503 GET /v2/x/manifests/1"
    assert steps[3].facts.media_type_from is None and steps[4].facts.media_type_from is None


def test_redirect_loop_hops_are_redirects_each_following_the_last():
    # The built-in client against the lab's loop.: registry 307 → loop-cdn, which 307s back to
    # the registry's blob URL, until the client gives up after 10 redirects.
    steps = classify(load_exchanges(LAB_DATA / "pulltrace-pull-loop.json"))
    hops = steps[4:]
    assert [s.kind for s in steps[:4]] == [P, T, HEAD, MAN]
    assert len(hops) == 11 and all(s.kind is RED and s.exchange.status == 307 for s in hops)
    assert {urlsplit(s.exchange.url).hostname for s in hops} == {"loop.pulltrace.test", "loop-cdn.pulltrace.test"}
    assert hops[0].linked("follows") == []
    for before, hop in pairwise(hops):
        assert hop.linked("follows") == [before.id]
        assert before.linked("redirects-to") == [hop.id]
        assert hop.reference == hops[0].reference and hop.facts.registry == "loop.pulltrace.test"
    # Every hop is still the config blob's, by the manifest that named it.
    assert {s.role for s in hops} == {"config"}
    assert not any(s.kind is CDN for s in steps)


def test_a_chain_of_redirects_ends_in_the_one_download():
    blob = "https://r.test/v2/x/blobs/sha256:" + "a" * 64
    steps = classify([
        _ex(1, "GET", blob, 307, resp=[("Location", "https://edge.test/o")]),
        _ex(2, "GET", "https://edge.test/o", 302, resp=[("Location", "https://store.test/o?sig=…")]),
        _ex(3, "GET", "https://store.test/o?sig=…", 403, body="<Error><Code>AccessDenied</Code></Error>"),
    ])
    assert [s.kind for s in steps] == [RED, RED, CDN]
    assert steps[2].error == "403 GET /o"
    assert steps[1].linked("follows") == ["x1"] and steps[2].linked("follows") == ["x2"]
    assert steps[2].reference == "sha256:" + "a" * 64
