"""Teaching mode's sentences (issue 16), exactly, in English and Chinese: on recorded seed and
lab samples, and on exchanges built here for what the samples do not hold (OCI and S3, every
failure, a mirror with parallel downloads, schema 1, requests that are no pull). The classifier
and the grouping are the real ones (`build_trace`); only the exchanges are made up.

A last test proves every sentence template and fragment is used by a case whose output is
asserted here, in both languages."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from pulltrace.model import Exchange, Session, Trace, load_trace
from pulltrace.pipeline import build_trace
from pulltrace.render import explain as explain_module
from pulltrace.render.explain import explain, explain_session, max_overlap
from pulltrace.render.i18n import translator
from pulltrace.render.i18n_explain import EXPLAIN_EN, EXPLAIN_ZH

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


# -- exchanges made up for what no sample holds --------------------------------------------------

T0 = 1795600000.0
R = "https://r.example.com"
AUTH = "https://auth.example.com/token"
UA = [("User-Agent", "containerd/1.7.0")]
CT = "Content-Type"
MANIFEST_OCI = "application/vnd.oci.image.manifest.v1+json"
INDEX_OCI = "application/vnd.oci.image.index.v1+json"
D = {n: "sha256:" + (c * 64) for n, c in (("cfg", "c"), ("l1", "1"), ("l2", "2"), ("arm", "a"), ("amd", "d"),
                                             ("m", "e"), ("x", "f"))}


def ex(n, method, url, status, *, at, req=(), resp=(), body=None, dur=5.0, nbytes=None, error=None, req_body=None):
    return Exchange(id=f"x{n}", method=method, url=url, started_at=T0 + at, status=status,
                    reason="", request_headers=list(UA) + list(req), response_headers=list(resp),
                    response_body_preview=body, duration_ms=dur, response_bytes=nbytes, error=error,
                    client="10.0.0.5", request_body_preview=req_body)


def trace(exchanges):
    return build_trace(exchanges, "test")


def oci_s3_pull():
    """containerd-like: Bearer challenge with a scope, a password grant by POST, an OCI index, an
    OCI manifest, a config redirected to S3 for 20 minutes (followed with the token), a layer
    redirect nobody follows, another whose masked S3 URL answers 403 in XML."""
    challenge = f'Bearer realm="{AUTH}",service="r.example.com",scope="repository:app:pull"'
    index = {"schemaVersion": 2, "mediaType": INDEX_OCI, "manifests": [
        {"mediaType": MANIFEST_OCI, "digest": D[arch], "size": 400, "platform": {"os": "linux", "architecture": name}}
        for arch, name in (("amd", "amd64"), ("arm", "arm64"))
    ]}
    layer = "application/vnd.oci.image.layer.v1.tar+gzip"
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_OCI,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D["cfg"], "size": 600},
                "layers": [{"mediaType": layer, "digest": D["l1"], "size": 3000},
                           {"mediaType": layer, "digest": D["l2"], "size": 5000}]}
    s3 = ("https://bucket.s3.amazonaws.com/blobs/" + D["cfg"][7:] +
          "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=1200&X-Amz-Signature=abc")
    s3_l2 = "https://bucket.s3.amazonaws.com/blobs/" + D["l2"][7:] + "?X-Amz-Expires=…&X-Amz-Signature=…"
    bearer = [("Authorization", "Bearer eyJ.x.y")]
    return trace([
        ex(1, "GET", f"{R}/v2/app/manifests/1.0", 401, at=0.0,
           resp=[("WWW-Authenticate", challenge), (CT, "application/json")],
           body='{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'),
        ex(2, "POST", AUTH, 200, at=0.01, req=[(CT, "application/x-www-form-urlencoded")],
           req_body="grant_type=password&username=bob&password=secret&service=r.example.com&scope=repository%3Aapp%3Apull",
           resp=[(CT, "application/json")], body='{"access_token": "xyz", "expires_in": 60}'),
        ex(3, "GET", f"{R}/v2/app/manifests/1.0", 200, at=0.02, req=bearer,
           resp=[(CT, INDEX_OCI), ("Docker-Content-Digest", D["m"])], body=json.dumps(index)),
        ex(4, "GET", f"{R}/v2/app/manifests/{D['arm']}", 200, at=0.03, req=bearer,
           resp=[(CT, MANIFEST_OCI), ("Docker-Content-Digest", D["arm"])], body=json.dumps(manifest)),
        ex(5, "GET", f"{R}/v2/app/blobs/{D['cfg']}", 307, at=0.04, req=bearer, resp=[("Location", s3)]),
        ex(6, "GET", s3, 200, at=0.05, req=bearer, nbytes=600),
        ex(7, "GET", f"{R}/v2/app/blobs/{D['l1']}", 307, at=0.06, req=bearer,
           resp=[("Location", "https://cdn.example.net/l1")]),
        ex(8, "GET", f"{R}/v2/app/blobs/{D['l2']}", 307, at=0.07, req=bearer, resp=[("Location", s3_l2)]),
        ex(9, "GET", s3_l2, 403, at=0.08, resp=[(CT, "application/xml")],
           body='<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>'),
    ])


def failures():
    """An open registry (ping 200) that fails in every way a pull meets: an unknown tag asked twice,
    a HEAD by digest, an unknown blob, a rate limit with and without Retry-After, a 503 with a bare
    code, a 403, a 401 without a challenge, and a manifest whose connection dropped."""
    err = lambda code, msg="": json.dumps({"errors": [{"code": code, "message": msg}] if msg else [{"code": code}]})  # noqa: E731
    js = [(CT, "application/json")]
    unknown = err("MANIFEST_UNKNOWN", "manifest unknown")
    return trace([
        ex(1, "GET", f"{R}/v2/", 200, at=0.0),
        ex(2, "GET", f"{R}/v2/app/manifests/nope", 404, at=0.01, resp=js, body=unknown),
        ex(3, "GET", f"{R}/v2/app/manifests/nope", 404, at=0.02, resp=js, body=unknown),
        ex(4, "HEAD", f"{R}/v2/app/manifests/{D['m']}", 404, at=0.03),
        ex(5, "GET", f"{R}/v2/app/blobs/{D['x']}", 404, at=0.04, resp=js,
           body=err("BLOB_UNKNOWN", "blob unknown to registry")),
        ex(6, "GET", f"{R}/v2/app/blobs/{D['l1']}", 429, at=0.05, resp=js + [("RateLimit-Remaining", "0;w=21600")],
           body=err("TOOMANYREQUESTS", "rate limit")),
        ex(7, "GET", f"{R}/v2/app/blobs/{D['l2']}", 503, at=0.06, resp=js, body=err("UNAVAILABLE")),
        ex(8, "GET", f"{R}/v2/app/blobs/{D['cfg']}", 403, at=0.07, resp=js, body=err("DENIED", "access denied")),
        ex(9, "GET", f"{R}/v2/app/manifests/1.0", 401, at=0.08, resp=js,
           body=err("UNAUTHORIZED", "authentication required")),
        ex(10, "GET", f"{R}/v2/app/manifests/2.0", None, at=0.09, error="connection reset by peer"),
        ex(11, "GET", f"{R}/v2/app/manifests/3.0", 429, at=0.10, resp=js + [("Retry-After", "3600")],
           body=err("TOOMANYREQUESTS", "rate limit")),
    ])


def mirror_parallel():
    """containerd through a mirror (`?ns=docker.io`), no auth, a manifest whose config and third
    layer the client already has: it asks for two layers only, both at once."""
    config = {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": D["cfg"], "size": 600}
    layer = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": config,
                "layers": [{"mediaType": layer, "digest": D[k], "size": 4096} for k in ("l1", "l2", "x")]}
    m = "https://mirror.example.com"
    return trace([
        ex(1, "GET", f"{m}/v2/?ns=docker.io", 200, at=0.0),
        ex(2, "GET", f"{m}/v2/library/app/manifests/latest?ns=docker.io", 200, at=0.01,
           resp=[(CT, "application/vnd.docker.distribution.manifest.v2+json")], body=json.dumps(manifest)),
        ex(3, "GET", f"{m}/v2/library/app/blobs/{D['l1']}?ns=docker.io", 200, at=0.02, dur=30.0, nbytes=4096),
        ex(4, "GET", f"{m}/v2/library/app/blobs/{D['l2']}?ns=docker.io", 200, at=0.03, dur=30.0, nbytes=4096),
    ])


def odd_ends():
    """A schema 1 manifest and a plain JSON one whose layers are never asked for, a token asked for with a refresh
    token and no challenge before it, Basic credentials without an account, a blob with no
    manifest in the capture redirected twice (registry -> CDN -> edge), another whose storage
    object is missing."""
    schema1 = {"schemaVersion": 1, "name": "old", "tag": "v1",
               "fsLayers": [{"blobSum": D["l1"]}], "history": [], "signature": "x"}
    # An old registry that answers a manifest as plain application/json and names no config.
    plain = {"schemaVersion": 2, "layers": [{"mediaType": "application/octet-stream", "digest": D[k], "size": 10}
                                            for k in ("l1", "l2")]}
    return trace([
        ex(1, "POST", AUTH, 200, at=0.0, req=[(CT, "application/x-www-form-urlencoded")],
           req_body="grant_type=refresh_token&refresh_token=r&service=r.example.com&scope=repository%3Aold%3Apull",
           resp=[(CT, "application/json")], body='{"access_token": "xyz"}'),
        ex(2, "GET", f"{R}/v2/old/manifests/v1", 200, at=0.01, req=[("Authorization", "Bearer eyJ.x.y")],
           resp=[(CT, "application/vnd.docker.distribution.manifest.v1+prettyjws")], body=json.dumps(schema1)),
        ex(7, "GET", f"{R}/v2/old/manifests/v2", 200, at=0.02, req=[("Authorization", "Bearer eyJ.x.y")],
           resp=[(CT, "application/json")], body=json.dumps(plain)),
        ex(3, "GET", AUTH + "?service=r.example.com&scope=repository%3Aother%3Apull", 200, at=5.0,
           req=[("Authorization", "Basic dTpw")], resp=[(CT, "application/json")], body='{"token": "abc"}'),
        ex(4, "GET", f"{R}/v2/other/blobs/{D['x']}", 307, at=5.01, req=[("Authorization", "Bearer eyJ.x.y")],
           resp=[("Location", "https://cdn.example.net/x")]),
        ex(5, "GET", "https://cdn.example.net/x", 302, at=5.02, resp=[("Location", "https://edge.example.net/x")]),
        ex(6, "GET", "https://edge.example.net/x", 200, at=5.03, nbytes=100),
        ex(8, "GET", f"{R}/v2/old/blobs/{D['x']}", 307, at=5.04, req=[("Authorization", "Bearer eyJ.x.y")],
           resp=[("Location", "https://cdn.example.net/old-x")]),
        ex(9, "GET", "https://cdn.example.net/old-x", 404, at=5.05, resp=[(CT, "application/xml")],
           body="<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"),
    ])


def not_pulls():
    """Requests that are no step of a pull: a catalog, a push, a web page, a refused connection."""
    return trace([
        ex(1, "GET", f"{R}/v2/_catalog", 200, at=0.0),
        ex(2, "PUT", f"{R}/v2/app/manifests/1.0", 201, at=0.01),
        ex(3, "GET", f"{R}/favicon.ico", 404, at=0.02),
        ex(4, "CONNECT", "https://down.example.com:443", None, at=0.03, error="connection refused"),
    ])


# (case, sample, session index, the step numbers asserted (None: all), whether its notes are asserted)
SAMPLE_CASES = [
    ("seed000", "seeds/000-daocloud-busybox.json", 0, None, True),
    ("seed001-hub", "seeds/001-dockerhub-alpine.json", 0, [2, 3, 4], False),
    ("seed003", "seeds/003-harbor-pull.json", 1, [2, 3, 4], True),
    ("seed004-login", "seeds/004-harbor-login.json", 0, None, False),
    ("lab-tiny-plus", "lab/docker-tiny-plus-after-tiny.json", 1, [3, 4], True),
    ("lab-basic-login", "lab/docker-basic-login-pull.json", 0, None, False),
    ("lab-alice", "lab/doctor-alice-denied.json", 0, [2, 3, 4, 6], False),
    ("lab-loop", "lab/pulltrace-pull-loop.json", 0, [6, 15], False),
]
BUILT_CASES = [("oci_s3_pull", 0), ("failures", 0), ("failures", 1), ("failures", 2), ("failures", 3), ("failures", 4),
               ("mirror_parallel", 0), ("odd_ends", 0), ("odd_ends", 1), ("odd_ends", 2),
               ("not_pulls", 0), ("not_pulls", 1)]


def _fallback() -> Trace:
    """The mirror pull with the summary a failed mirror leaves (sessions.summarize: the mirror
    first, the registry the client fell back to last)."""
    t = mirror_parallel()
    t.sessions[0].summary.fallback = "registry-1.docker.io"
    return t


def case_session(name: str) -> tuple[Session, list[int] | None, bool]:
    for case, sample, index, numbers, notes in SAMPLE_CASES:
        if case == name:
            return load_trace(SAMPLES / sample).sessions[index], numbers, notes
    if name == "fallback":
        return _fallback().sessions[0], [], True
    builder, _, index = name.rpartition("-")
    return globals()[builder]().sessions[int(index)], None, True


ALL_CASES = [c[0] for c in SAMPLE_CASES] + [f"{b}-{i}" for b, i in BUILT_CASES] + ["fallback"]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", ALL_CASES)
def test_sentences(name, lang):
    session, numbers, notes = case_session(name)
    e = explain_session(session, lang)
    want = EXPECTED[(name, lang)]
    got = {s.number: list(s.sentences) for s in e.steps if numbers is None or s.number in numbers}
    assert got == want["steps"]
    if notes:
        assert list(e.notes) == want["notes"]


def test_plain_data_form_is_step_ids_and_sentences():
    session = load_trace(SAMPLES / "seeds/000-daocloud-busybox.json").sessions[0]
    pairs = explain(session, "en")
    assert [step_id for step_id, _ in pairs] == ["000-1", "000-2", "000-3", "000-4", "000-5"]
    assert pairs[0][1] == EXPECTED[("seed000", "en")]["steps"][1]


def test_terms_link_the_glossary_entries_a_step_uses():
    session = load_trace(SAMPLES / "seeds/001-dockerhub-alpine.json").sessions[0]
    e = explain_session(session, "en")
    assert [s.terms for s in e.steps] == [
        ("challenge", "realm", "token"),
        ("token", "realm", "scope"),
        ("manifest-list", "platform-manifest", "digest"),
        ("platform-manifest", "manifest", "blob", "digest"),
        ("redirect", "blob", "digest", "cdn"),
        ("cdn", "blob"),
    ]
    mirror = explain_session(mirror_parallel().sessions[0], "en")
    assert mirror.steps[0].terms == ("mirror",)
    assert "mirror" in mirror.terms


def test_no_claim_without_the_fact():
    """A redirect whose URL carries no signature is not called signed; a token answer without
    expires_in states no lifetime; downloads without durations say nothing about overlap."""
    session = load_trace(SAMPLES / "lab/docker-tiny-plus-after-tiny.json").sessions[0]
    text = " ".join(s for st in explain_session(session, "en").steps for s in st.sentences)
    assert "signed" not in text
    bare = odd_ends().sessions[0]
    assert explain_session(bare, "en").steps[0].sentences[1] == "It answered 200 OK with a token."
    timeless = copy.deepcopy(load_trace(SAMPLES / "lab/docker-tiny-plus-after-tiny.json").sessions[1])
    for step in timeless.steps:
        step.exchange.duration_ms = None
    notes = explain_session(timeless, "en").notes
    assert not any(n.startswith("Downloads at once") for n in notes)


def test_overlap_counts_downloads_open_at_one_instant():
    spans = [("a", 0.0, 1.0), ("b", 0.5, 2.0), ("c", 0.6, 0.7), ("d", 3.0, 4.0)]
    assert max_overlap(spans) == (3, ["a", "b", "c"], 0.6)
    # Back to back is one at a time: an end at the instant of a start closes first.
    assert max_overlap([("a", 0.0, 1.0), ("b", 1.0, 2.0)])[0] == 1
    assert max_overlap([]) == (0, [], 0.0)


def _recorder(real, used: set[str]):
    def recording(key: str, **fields: object) -> str:
        used.add(key)
        return real(key, **fields)

    return recording


def test_every_template_is_asserted_in_both_languages():
    """Each x_ key is used while explaining a step (or the notes) whose output test_sentences
    asserts exactly; the view labels are asserted by the view tests (test_handout, the
    views' tests below)."""
    view_labels = {"x_heading", "x_toggle", "x_notes", "x_terms", "glossary"}
    for lang in ("en", "zh"):
        used: set[str] = set()
        recording = _recorder(translator(lang), used)
        for name in ALL_CASES:
            session, numbers, notes = case_session(name)
            c = explain_module._Context(session, recording)
            for n, step in enumerate(session.steps, 1):
                before = set(used)
                explain_module.explain_step(step, c)
                if numbers is not None and n not in numbers:
                    used.clear()
                    used.update(before)  # a step whose sentences are not asserted proves nothing
            if notes:
                explain_module.session_notes(session, c.numbers, recording)
        templates = {k for k in EXPLAIN_EN if k not in view_labels}
        assert templates - used == set(), lang
    assert set(EXPLAIN_EN) == set(EXPLAIN_ZH)
    assert not [k for k in EXPLAIN_EN if EXPLAIN_EN[k] == EXPLAIN_ZH[k] and not k.startswith("x_step")]


def test_views_carry_the_explanation():
    from pulltrace.render.html import render_html
    from pulltrace.render.markdown import render_markdown
    from pulltrace.render.text import render_text

    t = load_trace(SAMPLES / "seeds/003-harbor-pull.json")
    first = EXPECTED[("seed003", "en")]["steps"][2][0]
    md = render_markdown(t, explain=True)
    assert "### What happens" in md and "### What the trace answers" in md and "## Glossary" in md
    assert "(Terms: [token](#term-token), [realm](#term-realm), [scope](#term-scope))" in md
    assert '<a id="term-token"></a>' in md
    text = render_text(t, explain=True, wide=True)
    assert f"#2 {first}" in text and "What the trace answers:" in text and "\nGlossary:\n" in text
    html = render_html(t, lang="zh", explain=True)
    assert 'id="explain-toggle"' in html and "讲解" in html and "术语表" in html and "过程讲解" in html
    assert EXPECTED[("seed003", "zh")]["steps"][2][0] in html
    assert 'href="#term-realm"' in html and 'id="term-realm"' in html
    # Without --explain nothing changes.
    assert 'id="explain-toggle"' not in render_html(t) and "What happens" not in render_markdown(t)
    assert "Glossary" not in render_text(t)


def test_show_explain_on_the_command_line(capsys):
    from pulltrace.commands.main import main

    assert main(["show", str(SAMPLES / "seeds/000-daocloud-busybox.json"), "--explain", "--lang", "zh", "--wide"]) == 0
    out = capsys.readouterr().out
    zh = EXPECTED[("seed000", "zh")]["steps"][1]
    assert f"#1 {''.join(zh)}" in out
    assert "术语表:" in out


def test_a_query_never_reaches_a_sentence():
    """Views mask a URL's secrets; sentences name the path only, so a token in a query (a
    signed download link, `?access_token=`) cannot leak through an explanation."""
    t = trace([ex(1, "GET", f"{R}/download/app.tar?access_token=SECRET123&sig=abc", 200, at=0.0)])
    sentences = explain(t.sessions[0], "en")[0][1]
    assert sentences == ["The client sent GET /download/app.tar to r.example.com; this request is not part of the "
                         "registry pull protocol."]


EXPECTED: dict[tuple[str, str], dict] = {
    ('seed000', 'en'): {
        "steps": {
            1: [
                'The client asked daocloud.io whether it speaks the registry API v2 (GET /v2/).',
                'The registry answered 401 with a Bearer challenge: realm daohub-auth.daocloud.io/auth, '
                'service daocloud.io. The client must fetch a token there before it may read the manifest.',
            ],
            2: [
                'To answer the challenge of step #1, the client asked the token service '
                'daohub-auth.daocloud.io/auth for a token for scope repository:busybox:pull, without '
                'credentials.',
                'It answered 200 OK with a token that grants pull on busybox.',
                'The client sends this token with step #3 (manifest).',
            ],
            3: [
                'The client asked daocloud.io for the manifest of busybox by tag latest.',
                'It carries the token from step #2, which answers the challenge of step #1.',
                'The registry answered with a Docker image manifest (schema 2): one config blob and one layer, '
                'each named by its digest.',
                'The client then asks for 1 of these 2 blobs (from step #4).',
            ],
            4: [
                'The client asked daocloud.io for the config blob, sha256:5b0d59026729… (1.5 KiB per the '
                'manifest).',
                'The blob is served from another host: the registry answered 307 Temporary Redirect with a '
                'Location on daohub.ufile.ucloud.com.cn, a signed URL.',
                'The client follows it (step #5) without sending its registry token.',
            ],
            5: [
                'Following the redirect of step #4, the client downloaded the config blob from '
                'daohub.ufile.ucloud.com.cn without its registry token: 200 OK, 1.5 KiB.',
            ],
        },
        "notes": [
            'Layers the client already had: the manifest names 2 blobs, and the client never asked for layer 1 '
            'of 1 sha256:57310166fe88…, so it was not downloaded; a client skips the blobs it already holds.',
        ],
    },
    ('seed000', 'zh'): {
        "steps": {
            1: [
                '客户端请求 daocloud.io 的 /v2/，确认它是否支持 registry v2 接口。',
                'registry 返回 401 未认证，并在 WWW-Authenticate 头中给出 Bearer 认证方式：realm 为 '
                'daohub-auth.daocloud.io/auth，service 为 daocloud.io。客户端要先到这里获取 token，'
                '才能拉取清单。',
            ],
            2: [
                '为了回应第 1 步的质询，客户端到 token 服务 daohub-auth.daocloud.io/auth 申请 token（scope 为 '
                'repository:busybox:pull），没有带凭据（匿名）。',
                'token 服务返回 200 OK，发给一个 token，授予 busybox 的 pull 权限。',
                '客户端在第 3 步（清单）中带上这个 token。',
            ],
            3: [
                '客户端向 daocloud.io 请求 busybox 的清单，按 tag latest。',
                '这次请求带上了第 2 步拿到的 token（回应第 1 步的质询）。',
                'registry 返回一个 Docker 镜像清单（schema 2）：一个配置 blob 和一个层，每项都用摘要标识。',
                '客户端随后按照清单请求其中 1 个 blob（共 2 个，从第 4 步开始）。',
            ],
            4: [
                '客户端向 daocloud.io 请求配置 blob sha256:5b0d59026729…（清单中标明 1.5 KiB）。',
                '这个 blob 由另一台主机提供：registry 返回 307 Temporary Redirect，Location 指向 '
                'daohub.ufile.ucloud.com.cn，是一个带签名的 URL。',
                '客户端跟随重定向（第 5 步），不再带 registry 的 token。',
            ],
            5: [
                '客户端跟随第 4 步的重定向，从 daohub.ufile.ucloud.com.cn 下载配置 blob（没有带 registry 的 '
                'token）：200 OK，1.5 KiB。',
            ],
        },
        "notes": [
            '已经存在的镜像层怎么处理：清单列出 2 个 blob，客户端始终没有请求 第 1/1 层 sha256:57310166fe88…，'
            '所以这次没有下载；客户端本地已有的 blob 不会再下载。',
        ],
    },
    ('seed001-hub', 'en'): {
        "steps": {
            2: [
                'To answer the challenge of step #1, the client asked the token service auth.docker.io/token '
                'for a token for scope repository:library/alpine:pull, without credentials.',
                'It answered 200 OK with a token valid for 300 seconds that grants pull on library/alpine.',
                'The client sends this token with step #3 (manifest index).',
            ],
            3: [
                'The client asked registry-1.docker.io for the manifest of library/alpine by tag latest.',
                'It carries the token from step #2, which answers the challenge of step #1.',
                'The registry answered with a Docker manifest list of 7 platforms: linux/amd64, linux/arm/v6, '
                'linux/arm/v7, linux/arm64/v8, linux/386, linux/ppc64le, linux/s390x.',
                'The client picks linux/amd64 and fetches that platform manifest by its digest (step #4).',
            ],
            4: [
                'The client asked registry-1.docker.io for the manifest of library/alpine by digest '
                'sha256:a15790640a66….',
                'This is the linux/amd64 manifest the client chose from the list in step #3.',
                'The registry answered with a Docker image manifest (schema 2): one config blob and one layer, '
                'each named by its digest.',
                'The client then asks for 1 of these 2 blobs (from step #5).',
            ],
        },
        "notes": None,
    },
    ('seed001-hub', 'zh'): {
        "steps": {
            2: [
                '为了回应第 1 步的质询，客户端到 token 服务 auth.docker.io/token 申请 token（scope 为 '
                'repository:library/alpine:pull），没有带凭据（匿名）。',
                'token 服务返回 200 OK，发给一个 token，有效期 300 秒，授予 library/alpine 的 pull 权限。',
                '客户端在第 3 步（清单列表）中带上这个 token。',
            ],
            3: [
                '客户端向 registry-1.docker.io 请求 library/alpine 的清单，按 tag latest。',
                '这次请求带上了第 2 步拿到的 token（回应第 1 步的质询）。',
                'registry 返回一个 Docker 清单列表（manifest list），包含 7 个平台：'
                'linux/amd64、linux/arm/v6、linux/arm/v7、linux/arm64/v8、linux/386、linux/ppc64le、linux/s390x'
                '。',
                '客户端选中 linux/amd64，按摘要拉取该平台的清单（第 4 步）。',
            ],
            4: [
                '客户端向 registry-1.docker.io 请求 library/alpine 的清单，按摘要 sha256:a15790640a66…。',
                '这是客户端从第 3 步的清单列表中选出的 linux/amd64 清单。',
                'registry 返回一个 Docker 镜像清单（schema 2）：一个配置 blob 和一个层，每项都用摘要标识。',
                '客户端随后按照清单请求其中 1 个 blob（共 2 个，从第 5 步开始）。',
            ],
        },
        "notes": None,
    },
    ('seed003', 'en'): {
        "steps": {
            2: [
                'To answer the challenge of step #1, the client asked the token service '
                'docker.gz.test.cn/service/token for a token for scope repository:ccloud/ccloud-server:pull, '
                'with the password of account admin (Basic).',
                'It answered 200 OK with a token valid for 1800 seconds that grants pull on '
                'ccloud/ccloud-server.',
                'The client sends this token with step #3 (manifest).',
            ],
            3: [
                'The client asked docker.gz.test.cn for the manifest of ccloud/ccloud-server by tag '
                'master-20f6fe2.',
                'It carries the token from step #2, which answers the challenge of step #1.',
                'The registry answered with a Docker image manifest (schema 2): one config blob and 4 layers, '
                'each named by its digest.',
                'The client then asks for all 5 of them (from step #4).',
            ],
            4: [
                'The client asked docker.gz.test.cn for the config blob, sha256:2ae74aa5b860… (6.1 KiB per the '
                'manifest).',
                'The registry served it itself: 200 OK, 6.1 KiB in 5 ms, with no redirect.',
            ],
        },
        "notes": [
            'Layers the client already had: none; it asked for every blob the manifest names (5).',
            'Downloads at once: one at a time; the 5 blob downloads did not overlap.',
        ],
    },
    ('seed003', 'zh'): {
        "steps": {
            2: [
                '为了回应第 1 步的质询，客户端到 token 服务 docker.gz.test.cn/service/token 申请 token（scope '
                '为 repository:ccloud/ccloud-server:pull），带上了账号 admin 的密码（Basic）。',
                'token 服务返回 200 OK，发给一个 token，有效期 1800 秒，授予 ccloud/ccloud-server 的 pull '
                '权限。',
                '客户端在第 3 步（清单）中带上这个 token。',
            ],
            3: [
                '客户端向 docker.gz.test.cn 请求 ccloud/ccloud-server 的清单，按 tag master-20f6fe2。',
                '这次请求带上了第 2 步拿到的 token（回应第 1 步的质询）。',
                'registry 返回一个 Docker 镜像清单（schema 2）：一个配置 blob 和 4 个层，每项都用摘要标识。',
                '客户端随后按照清单逐个请求全部 5 个 blob（从第 4 步开始）。',
            ],
            4: [
                '客户端向 docker.gz.test.cn 请求配置 blob sha256:2ae74aa5b860…（清单中标明 6.1 KiB）。',
                'registry 直接返回 200 OK，6.1 KiB，耗时 5 ms，没有重定向。',
            ],
        },
        "notes": [
            '已经存在的镜像层怎么处理：这次没有，客户端请求了清单列出的全部 5 个 blob。',
            '同时下载几个：一次一个，5 个 blob 的下载没有重叠。',
        ],
    },
    ('seed004-login', 'en'): {
        "steps": {
            1: [
                'The client asked 192.168.195.134 whether it speaks the registry API v2 (GET /v2/).',
                'The registry answered 401 with a Bearer challenge: realm 192.168.195.134/service/token, '
                'service harbor-registry. The client must fetch a token there before it may read the manifest.',
            ],
            2: [
                'The client asked the token service 192.168.195.134/service/token for a token with no scope, '
                'with the password of account admin (Basic): a login check, not a pull.',
                'The server accepted them (200 OK).',
            ],
            3: [
                'The client asked 192.168.195.134 whether it speaks the registry API v2 (GET /v2/).',
                'The registry answered 200 OK: it accepts the token the client sent.',
            ],
            4: [
                'The client sent GET / to 192.168.195.134; this request is not part of the registry pull '
                'protocol.',
            ],
            5: [
                'The client asked 192.168.195.134 whether it speaks the registry API v2 (GET /v2/).',
                'The registry answered 401 with a Bearer challenge: realm 192.168.195.134/service/token, '
                'service harbor-registry. The client must fetch a token there before it may read the manifest.',
            ],
            6: [
                'The client asked the token service 192.168.195.134/service/token for a token with no scope, '
                'with the password of account admin (Basic): a login check, not a pull.',
                'The server accepted them (200 OK).',
            ],
            7: [
                'The client asked 192.168.195.134 whether it speaks the registry API v2 (GET /v2/).',
                'The registry answered 200 OK: it accepts the token the client sent.',
            ],
        },
        "notes": None,
    },
    ('seed004-login', 'zh'): {
        "steps": {
            1: [
                '客户端请求 192.168.195.134 的 /v2/，确认它是否支持 registry v2 接口。',
                'registry 返回 401 未认证，并在 WWW-Authenticate 头中给出 Bearer 认证方式：realm 为 '
                '192.168.195.134/service/token，service 为 harbor-registry。客户端要先到这里获取 token，'
                '才能拉取清单。',
            ],
            2: [
                '客户端到 token 服务 192.168.195.134/service/token 申请 token（不带 scope），带上了账号 admin '
                '的密码（Basic）：这是登录校验，不是拉取。',
                '服务端接受了凭据（200 OK）。',
            ],
            3: [
                '客户端请求 192.168.195.134 的 /v2/，确认它是否支持 registry v2 接口。',
                'registry 返回 200 OK：接受了客户端带上的 token。',
            ],
            4: [
                '客户端向 192.168.195.134 发送 GET /，这个请求不属于 registry 的拉取协议。',
            ],
            5: [
                '客户端请求 192.168.195.134 的 /v2/，确认它是否支持 registry v2 接口。',
                'registry 返回 401 未认证，并在 WWW-Authenticate 头中给出 Bearer 认证方式：realm 为 '
                '192.168.195.134/service/token，service 为 harbor-registry。客户端要先到这里获取 token，'
                '才能拉取清单。',
            ],
            6: [
                '客户端到 token 服务 192.168.195.134/service/token 申请 token（不带 scope），带上了账号 admin '
                '的密码（Basic）：这是登录校验，不是拉取。',
                '服务端接受了凭据（200 OK）。',
            ],
            7: [
                '客户端请求 192.168.195.134 的 /v2/，确认它是否支持 registry v2 接口。',
                'registry 返回 200 OK：接受了客户端带上的 token。',
            ],
        },
        "notes": None,
    },
    ('lab-tiny-plus', 'en'): {
        "steps": {
            3: [
                'The client asked hub.pulltrace.test (HEAD, no body) whether tag latest exists in '
                'library/tiny-plus and what its digest is.',
                'It carries the token from step #2, which answers the challenge of step #1.',
                'The registry answered 200 OK: digest sha256:02c14e138f7d…, a Docker image manifest (schema 2).',
                'With that digest the client then fetches the manifest itself (step #4).',
            ],
            4: [
                'The client asked hub.pulltrace.test for the manifest of library/tiny-plus by digest '
                'sha256:02c14e138f7d….',
                'The registry answered with a Docker image manifest (schema 2): one config blob and 2 layers, '
                'each named by its digest.',
                'The client then asks for 2 of these 3 blobs (from step #5).',
            ],
        },
        "notes": [
            'Layers the client already had: the manifest names 3 blobs, and the client never asked for layer 1 '
            'of 2 sha256:c9591b79ea92…, so it was not downloaded; a client skips the blobs it already holds.',
            'Downloads at once: at most 2 blob downloads ran at the same time (steps #7, #8, from +74 ms).',
        ],
    },
    ('lab-tiny-plus', 'zh'): {
        "steps": {
            3: [
                '客户端用 HEAD（不取内容）问 hub.pulltrace.test：library/tiny-plus 中是否有 tag latest，'
                '它的摘要是什么。',
                '这次请求带上了第 2 步拿到的 token（回应第 1 步的质询）。',
                'registry 返回 200 OK：摘要为 sha256:02c14e138f7d…，是一个 Docker 镜像清单（schema 2）。',
                '客户端随后按这个摘要拉取清单本身（第 4 步）。',
            ],
            4: [
                '客户端向 hub.pulltrace.test 请求 library/tiny-plus 的清单，按摘要 sha256:02c14e138f7d…。',
                'registry 返回一个 Docker 镜像清单（schema 2）：一个配置 blob 和 2 个层，每项都用摘要标识。',
                '客户端随后按照清单请求其中 2 个 blob（共 3 个，从第 5 步开始）。',
            ],
        },
        "notes": [
            '已经存在的镜像层怎么处理：清单列出 3 个 blob，客户端始终没有请求 第 1/2 层 sha256:c9591b79ea92…，'
            '所以这次没有下载；客户端本地已有的 blob 不会再下载。',
            '同时下载几个：最多 2 个 blob 同时在下载（第 7、8 步，从 +74 ms 起）。',
        ],
    },
    ('lab-basic-login', 'en'): {
        "steps": {
            1: [
                'The client asked basic.pulltrace.test whether it speaks the registry API v2 (GET /v2/).',
                'The registry answered 401 with a Basic challenge (realm pulltrace lab basic): the client must '
                'send a user name and password with its requests.',
            ],
            2: [
                'The client sent a user name and password (Basic) to basic.pulltrace.test/v2/ to check them.',
                'The server accepted them (200 OK).',
            ],
        },
        "notes": None,
    },
    ('lab-basic-login', 'zh'): {
        "steps": {
            1: [
                '客户端请求 basic.pulltrace.test 的 /v2/，确认它是否支持 registry v2 接口。',
                'registry 返回 401 未认证，要求 Basic 认证（realm 为 pulltrace lab basic）：'
                '客户端每次请求都要带上用户名和密码。',
            ],
            2: [
                '客户端把用户名和密码（Basic）发到 basic.pulltrace.test/v2/，校验是否正确。',
                '服务端接受了凭据（200 OK）。',
            ],
        },
        "notes": None,
    },
    ('lab-alice', 'en'): {
        "steps": {
            2: [
                'To answer the challenge of step #1, the client asked the token service '
                'auth.pulltrace.test/token for a token for scope repository:private/secret:pull, with the '
                'password of account alice (Basic).',
                'It answered 200 OK with a token valid for 300 seconds that grants no action on private/secret.',
                'The client sends this token with step #3 (manifest HEAD).',
            ],
            3: [
                'The client asked hub.pulltrace.test (HEAD, no body) whether tag latest exists in '
                'private/secret and what its digest is.',
                'It carries the token from step #2, which answers the challenge of step #1.',
                'The request failed: 401 Unauthorized.',
                'The registry answered 401 with error insufficient_scope: the token does not allow '
                'repository:private/secret:pull.',
            ],
            4: [
                'The client asked hub.pulltrace.test for the manifest of private/secret by tag latest.',
                'The request failed: 401 Unauthorized (UNAUTHORIZED: authentication required).',
                'The registry answered 401 with error insufficient_scope: the token does not allow '
                'repository:private/secret:pull.',
                'The client tries the same request again at step #6.',
            ],
            6: [
                'The client asked hub.pulltrace.test for the manifest of private/secret by tag latest.',
                'This repeats the request of step #4, now with the token from step #5.',
                'The request failed: 401 Unauthorized (UNAUTHORIZED: authentication required).',
                'The registry answered 401 with error insufficient_scope: the token does not allow '
                'repository:private/secret:pull.',
            ],
        },
        "notes": None,
    },
    ('lab-alice', 'zh'): {
        "steps": {
            2: [
                '为了回应第 1 步的质询，客户端到 token 服务 auth.pulltrace.test/token 申请 token（scope 为 '
                'repository:private/secret:pull），带上了账号 alice 的密码（Basic）。',
                'token 服务返回 200 OK，发给一个 token，有效期 300 秒，授予 private/secret 的任何权限都没有。',
                '客户端在第 3 步（清单 HEAD）中带上这个 token。',
            ],
            3: [
                '客户端用 HEAD（不取内容）问 hub.pulltrace.test：private/secret 中是否有 tag latest，'
                '它的摘要是什么。',
                '这次请求带上了第 2 步拿到的 token（回应第 1 步的质询）。',
                '请求失败：401 Unauthorized。',
                'registry 返回 401，错误为 insufficient_scope：这个 token 不允许 '
                'repository:private/secret:pull。',
            ],
            4: [
                '客户端向 hub.pulltrace.test 请求 private/secret 的清单，按 tag latest。',
                '请求失败：401 Unauthorized（UNAUTHORIZED：authentication required）。',
                'registry 返回 401，错误为 insufficient_scope：这个 token 不允许 '
                'repository:private/secret:pull。',
                '客户端在第 6 步重试了同一个请求。',
            ],
            6: [
                '客户端向 hub.pulltrace.test 请求 private/secret 的清单，按 tag latest。',
                '这是第 4 步的请求重发一次，这次带上了第 5 步拿到的 token。',
                '请求失败：401 Unauthorized（UNAUTHORIZED：authentication required）。',
                'registry 返回 401，错误为 insufficient_scope：这个 token 不允许 '
                'repository:private/secret:pull。',
            ],
        },
        "notes": None,
    },
    ('lab-loop', 'en'): {
        "steps": {
            6: [
                'Following the redirect of step #5, the client asked loop-cdn.pulltrace.test, which sent it on '
                'again (307 Temporary Redirect to loop.pulltrace.test).',
                'That URL was already asked for at step #5: the redirects go round in a loop.',
            ],
            15: [
                'Following the redirect of step #14, the client asked loop.pulltrace.test, which sent it on '
                'again (307 Temporary Redirect to loop-cdn.pulltrace.test).',
                'That URL was already asked for at step #6: the redirects go round in a loop.',
                'No request in the trace follows it.',
            ],
        },
        "notes": None,
    },
    ('lab-loop', 'zh'): {
        "steps": {
            6: [
                '客户端跟随第 5 步的重定向请求 loop-cdn.pulltrace.test，它又一次重定向（307 Temporary '
                'Redirect，指向 loop.pulltrace.test）。',
                '这个 URL 在第 5 步已经请求过：重定向在兜圈子。',
            ],
            15: [
                '客户端跟随第 14 步的重定向请求 loop.pulltrace.test，它又一次重定向（307 Temporary Redirect，'
                '指向 loop-cdn.pulltrace.test）。',
                '这个 URL 在第 6 步已经请求过：重定向在兜圈子。',
                '记录中没有跟随这个重定向的请求。',
            ],
        },
        "notes": None,
    },
    ('oci_s3_pull-0', 'en'): {
        "steps": {
            1: [
                'The client asked r.example.com for the manifest of app by tag 1.0.',
                'The registry answered 401 with a Bearer challenge: realm auth.example.com/token, service '
                'r.example.com, scope repository:app:pull. The client must fetch a token there and then send '
                'this request again with it.',
            ],
            2: [
                'To answer the challenge of step #1, the client asked the token service auth.example.com/token '
                'for a token for scope repository:app:pull, with a password grant (OAuth2 POST).',
                'It answered 200 OK with a token valid for 60 seconds.',
                'The client sends this token with step #3 (manifest index).',
            ],
            3: [
                'The client asked r.example.com for the manifest of app by tag 1.0.',
                'This repeats the request of step #1, now with the token from step #2.',
                'The registry answered with an OCI image index of 2 platforms: linux/amd64, linux/arm64.',
                'The client picks linux/arm64 and fetches that platform manifest by its digest (step #4).',
            ],
            4: [
                'The client asked r.example.com for the manifest of app by digest sha256:aaaaaaaaaaaa….',
                'This is the linux/arm64 manifest the client chose from the list in step #3.',
                'The registry answered with an OCI image manifest: one config blob and 2 layers, each named by '
                'its digest.',
                'The client then asks for all 3 of them (from step #5).',
            ],
            5: [
                'The client asked r.example.com for the config blob, sha256:cccccccccccc… (600 B per the '
                'manifest).',
                'The blob is served from another host: the registry answered 307 Temporary Redirect with a '
                'Location on bucket.s3.amazonaws.com, a signed URL valid for 20 minutes.',
                'The client follows it (step #6) and sends its Authorization header there too.',
            ],
            6: [
                'Following the redirect of step #5, the client downloaded the config blob from '
                'bucket.s3.amazonaws.com with its registry token: 200 OK, 600 B.',
            ],
            7: [
                'The client asked r.example.com for the blob of layer 1 of 2, sha256:111111111111… (2.9 KiB '
                'per the manifest).',
                'The blob is served from another host: the registry answered 307 Temporary Redirect with a '
                'Location on cdn.example.net.',
                'No request in the trace follows it.',
            ],
            8: [
                'The client asked r.example.com for the blob of layer 2 of 2, sha256:222222222222… (4.9 KiB '
                'per the manifest).',
                'The blob is served from another host: the registry answered 307 Temporary Redirect with a '
                'Location on bucket.s3.amazonaws.com, a signed URL.',
                'The client follows it (step #9) without sending its registry token.',
            ],
            9: [
                'Following the redirect of step #8, the client asked bucket.s3.amazonaws.com for the blob of '
                'layer 2 of 2 without its registry token.',
                'The request failed: 403 Forbidden (AccessDenied: Request has expired).',
                'The server understood the request and refuses it.',
            ],
        },
        "notes": [
        ],
    },
    ('oci_s3_pull-0', 'zh'): {
        "steps": {
            1: [
                '客户端向 r.example.com 请求 app 的清单，按 tag 1.0。',
                'registry 返回 401 未认证，并在 WWW-Authenticate 头中给出 Bearer 认证方式：realm 为 '
                'auth.example.com/token，service 为 r.example.com，scope 为 '
                'repository:app:pull。客户端要先到这里获取 token，再带上它重发这个请求。',
            ],
            2: [
                '为了回应第 1 步的质询，客户端到 token 服务 auth.example.com/token 申请 token（scope 为 '
                'repository:app:pull），用密码方式（OAuth2 POST）。',
                'token 服务返回 200 OK，发给一个 token，有效期 60 秒。',
                '客户端在第 3 步（清单列表）中带上这个 token。',
            ],
            3: [
                '客户端向 r.example.com 请求 app 的清单，按 tag 1.0。',
                '这是第 1 步的请求重发一次，这次带上了第 2 步拿到的 token。',
                'registry 返回一个 OCI 镜像索引（index），包含 2 个平台：linux/amd64、linux/arm64。',
                '客户端选中 linux/arm64，按摘要拉取该平台的清单（第 4 步）。',
            ],
            4: [
                '客户端向 r.example.com 请求 app 的清单，按摘要 sha256:aaaaaaaaaaaa…。',
                '这是客户端从第 3 步的清单列表中选出的 linux/arm64 清单。',
                'registry 返回一个 OCI 镜像清单：一个配置 blob 和 2 个层，每项都用摘要标识。',
                '客户端随后按照清单逐个请求全部 3 个 blob（从第 5 步开始）。',
            ],
            5: [
                '客户端向 r.example.com 请求配置 blob sha256:cccccccccccc…（清单中标明 600 B）。',
                '这个 blob 由另一台主机提供：registry 返回 307 Temporary Redirect，Location 指向 '
                'bucket.s3.amazonaws.com，是一个带签名的 URL，有效期 20 分钟。',
                '客户端跟随重定向（第 6 步），把 Authorization 头也带了过去。',
            ],
            6: [
                '客户端跟随第 5 步的重定向，从 bucket.s3.amazonaws.com 下载配置 blob（带着 registry 的 '
                'token）：200 OK，600 B。',
            ],
            7: [
                '客户端向 r.example.com 请求第 1/2 层的 blob sha256:111111111111…（清单中标明 2.9 KiB）。',
                '这个 blob 由另一台主机提供：registry 返回 307 Temporary Redirect，Location 指向 '
                'cdn.example.net。',
                '记录中没有跟随这个重定向的请求。',
            ],
            8: [
                '客户端向 r.example.com 请求第 2/2 层的 blob sha256:222222222222…（清单中标明 4.9 KiB）。',
                '这个 blob 由另一台主机提供：registry 返回 307 Temporary Redirect，Location 指向 '
                'bucket.s3.amazonaws.com，是一个带签名的 URL。',
                '客户端跟随重定向（第 9 步），不再带 registry 的 token。',
            ],
            9: [
                '客户端跟随第 8 步的重定向，向 bucket.s3.amazonaws.com 请求第 2/2 层的 blob（没有带 registry '
                '的 token）。',
                '请求失败：403 Forbidden（AccessDenied：Request has expired）。',
                '服务端看懂了请求，但拒绝执行。',
            ],
        },
        "notes": [
        ],
    },
    ('failures-0', 'en'): {
        "steps": {
            1: [
                'The client asked r.example.com whether it speaks the registry API v2 (GET /v2/).',
                'The registry answered 200 OK with no challenge: it asks for no credentials, so the client may '
                'read manifests and blobs without a token.',
            ],
            2: [
                'The client asked r.example.com for the manifest of app by tag nope.',
                'The request failed: 404 Not Found (MANIFEST_UNKNOWN: manifest unknown).',
                'The registry has no manifest nope in app.',
                'The client tries the same request again at step #3.',
            ],
            3: [
                'This repeats the failed request of step #2.',
                'The client asked r.example.com for the manifest of app by tag nope.',
                'The request failed: 404 Not Found (MANIFEST_UNKNOWN: manifest unknown).',
                'The registry has no manifest nope in app.',
            ],
        },
        "notes": [
        ],
    },
    ('failures-0', 'zh'): {
        "steps": {
            1: [
                '客户端请求 r.example.com 的 /v2/，确认它是否支持 registry v2 接口。',
                'registry 返回 200 OK，没有认证质询：不需要凭据，客户端不用 token 就可以拉取清单和 blob。',
            ],
            2: [
                '客户端向 r.example.com 请求 app 的清单，按 tag nope。',
                '请求失败：404 Not Found（MANIFEST_UNKNOWN：manifest unknown）。',
                'registry 的 app 中没有清单 nope。',
                '客户端在第 3 步重试了同一个请求。',
            ],
            3: [
                '这是第 2 步失败请求的重试。',
                '客户端向 r.example.com 请求 app 的清单，按 tag nope。',
                '请求失败：404 Not Found（MANIFEST_UNKNOWN：manifest unknown）。',
                'registry 的 app 中没有清单 nope。',
            ],
        },
        "notes": [
        ],
    },
    ('failures-1', 'en'): {
        "steps": {
            1: [
                'The client asked r.example.com (HEAD, no body) whether manifest sha256:eeeeeeeeeeee… exists '
                'in app.',
                'The request failed: 404 Not Found.',
                'The registry has no manifest sha256:eeeeeeeeeeee… in app.',
            ],
            2: [
                'The client asked r.example.com for blob sha256:ffffffffffff….',
                'The request failed: 404 Not Found (BLOB_UNKNOWN: blob unknown to registry).',
                'The registry has no blob sha256:ffffffffffff… in app.',
            ],
            3: [
                'The client asked r.example.com for blob sha256:111111111111….',
                'The request failed: 429 Too Many Requests (TOOMANYREQUESTS: rate limit).',
                'The server limits how often the client may ask (RateLimit-Remaining: 0;w=21600); the client '
                'must wait before it tries again.',
            ],
            4: [
                'The client asked r.example.com for blob sha256:222222222222….',
                'The request failed: 503 Service Unavailable (UNAVAILABLE).',
                "The fault is on the server's side, not the client's.",
            ],
            5: [
                'The client asked r.example.com for blob sha256:cccccccccccc….',
                'The request failed: 403 Forbidden (DENIED: access denied).',
                'The server understood the request and refuses it.',
            ],
        },
        "notes": [
        ],
    },
    ('failures-1', 'zh'): {
        "steps": {
            1: [
                '客户端用 HEAD（不取内容）问 r.example.com：app 中是否有清单 sha256:eeeeeeeeeeee…。',
                '请求失败：404 Not Found。',
                'registry 的 app 中没有清单 sha256:eeeeeeeeeeee…。',
            ],
            2: [
                '客户端向 r.example.com 请求 blob sha256:ffffffffffff…。',
                '请求失败：404 Not Found（BLOB_UNKNOWN：blob unknown to registry）。',
                'registry 的 app 中没有 blob sha256:ffffffffffff…。',
            ],
            3: [
                '客户端向 r.example.com 请求 blob sha256:111111111111…。',
                '请求失败：429 Too Many Requests（TOOMANYREQUESTS：rate limit）。',
                '服务端限制了请求频率（RateLimit-Remaining：0;w=21600），客户端要等一会儿才能再试。',
            ],
            4: [
                '客户端向 r.example.com 请求 blob sha256:222222222222…。',
                '请求失败：503 Service Unavailable（UNAVAILABLE）。',
                '问题出在服务端，不在客户端。',
            ],
            5: [
                '客户端向 r.example.com 请求 blob sha256:cccccccccccc…。',
                '请求失败：403 Forbidden（DENIED：access denied）。',
                '服务端看懂了请求，但拒绝执行。',
            ],
        },
        "notes": [
        ],
    },
    ('failures-2', 'en'): {
        "steps": {
            1: [
                'The client asked r.example.com for the manifest of app by tag 1.0.',
                'The request failed: 401 Unauthorized (UNAUTHORIZED: authentication required).',
                'The server wants credentials the client did not send, or refused the ones it sent.',
            ],
        },
        "notes": [
        ],
    },
    ('failures-2', 'zh'): {
        "steps": {
            1: [
                '客户端向 r.example.com 请求 app 的清单，按 tag 1.0。',
                '请求失败：401 Unauthorized（UNAUTHORIZED：authentication required）。',
                '服务端要求凭据：客户端没有带，或者带的凭据被拒绝了。',
            ],
        },
        "notes": [
        ],
    },
    ('failures-3', 'en'): {
        "steps": {
            1: [
                'The client asked r.example.com for the manifest of app by tag 2.0.',
                'No response came back: connection reset by peer.',
            ],
        },
        "notes": [
        ],
    },
    ('failures-3', 'zh'): {
        "steps": {
            1: [
                '客户端向 r.example.com 请求 app 的清单，按 tag 2.0。',
                '没有收到返回：connection reset by peer。',
            ],
        },
        "notes": [
        ],
    },
    ('failures-4', 'en'): {
        "steps": {
            1: [
                'The client asked r.example.com for the manifest of app by tag 3.0.',
                'The request failed: 429 Too Many Requests (TOOMANYREQUESTS: rate limit).',
                'The server limits how often the client may ask; the client must wait 3600 seconds '
                '(Retry-After) before it tries again.',
            ],
        },
        "notes": [
        ],
    },
    ('failures-4', 'zh'): {
        "steps": {
            1: [
                '客户端向 r.example.com 请求 app 的清单，按 tag 3.0。',
                '请求失败：429 Too Many Requests（TOOMANYREQUESTS：rate limit）。',
                '服务端限制了请求频率，客户端要等 3600 秒（Retry-After）才能再试。',
            ],
        },
        "notes": [
        ],
    },
    ('mirror_parallel-0', 'en'): {
        "steps": {
            1: [
                'The ?ns=docker.io parameter tells the mirror mirror.example.com which upstream registry the '
                'client means.',
                'The client asked mirror.example.com whether it speaks the registry API v2 (GET /v2/).',
                'The registry answered 200 OK with no challenge: it asks for no credentials, so the client may '
                'read manifests and blobs without a token.',
            ],
            2: [
                'The client asked mirror.example.com for the manifest of library/app by tag latest.',
                'The registry answered with a Docker image manifest (schema 2): one config blob and 3 layers, '
                'each named by its digest.',
                'The client then asks for 2 of these 4 blobs (from step #3).',
            ],
            3: [
                'The client asked mirror.example.com for the blob of layer 1 of 3, sha256:111111111111… (4.0 '
                'KiB per the manifest).',
                'The registry served it itself: 200 OK, 4.0 KiB in 30 ms, with no redirect.',
            ],
            4: [
                'The client asked mirror.example.com for the blob of layer 2 of 3, sha256:222222222222… (4.0 '
                'KiB per the manifest).',
                'The registry served it itself: 200 OK, 4.0 KiB in 30 ms, with no redirect.',
            ],
        },
        "notes": [
            'Layers the client already had: the manifest names 4 blobs, and the client never asked for config '
            'sha256:cccccccccccc… and layer 3 of 3 sha256:ffffffffffff…, so they were not downloaded; a client '
            'skips the blobs it already holds.',
            'Downloads at once: at most 2 blob downloads ran at the same time (steps #3, #4, from +30 ms).',
            "Mirror: the client pulled docker.io's image through the mirror mirror.example.com.",
        ],
    },
    ('mirror_parallel-0', 'zh'): {
        "steps": {
            1: [
                '?ns=docker.io 参数告诉镜像加速 mirror.example.com：客户端要的是上游 registry docker.io '
                '的镜像。',
                '客户端请求 mirror.example.com 的 /v2/，确认它是否支持 registry v2 接口。',
                'registry 返回 200 OK，没有认证质询：不需要凭据，客户端不用 token 就可以拉取清单和 blob。',
            ],
            2: [
                '客户端向 mirror.example.com 请求 library/app 的清单，按 tag latest。',
                'registry 返回一个 Docker 镜像清单（schema 2）：一个配置 blob 和 3 个层，每项都用摘要标识。',
                '客户端随后按照清单请求其中 2 个 blob（共 4 个，从第 3 步开始）。',
            ],
            3: [
                '客户端向 mirror.example.com 请求第 1/3 层的 blob sha256:111111111111…（清单中标明 4.0 KiB）。',
                'registry 直接返回 200 OK，4.0 KiB，耗时 30 ms，没有重定向。',
            ],
            4: [
                '客户端向 mirror.example.com 请求第 2/3 层的 blob sha256:222222222222…（清单中标明 4.0 KiB）。',
                'registry 直接返回 200 OK，4.0 KiB，耗时 30 ms，没有重定向。',
            ],
        },
        "notes": [
            '已经存在的镜像层怎么处理：清单列出 4 个 blob，客户端始终没有请求 配置 sha256:cccccccccccc…和第 '
            '3/3 层 sha256:ffffffffffff…，所以这几个都没有下载；客户端本地已有的 blob 不会再下载。',
            '同时下载几个：最多 2 个 blob 同时在下载（第 3、4 步，从 +30 ms 起）。',
            '镜像加速：客户端通过镜像加速 mirror.example.com 拉取 docker.io 的镜像。',
        ],
    },
    ('odd_ends-0', 'en'): {
        "steps": {
            1: [
                'The client asked the token service auth.example.com/token for a token for scope '
                'repository:old:pull, with a refresh token (OAuth2 POST).',
                'It answered 200 OK with a token.',
            ],
            2: [
                'The client asked r.example.com for the manifest of old by tag v1.',
                'The registry answered with a schema 1 manifest: one layer, named by its digest.',
                'The trace holds no request for any blob it names.',
            ],
        },
        "notes": [
        ],
    },
    ('odd_ends-0', 'zh'): {
        "steps": {
            1: [
                '客户端到 token 服务 auth.example.com/token 申请 token（scope 为 repository:old:pull），用 '
                'refresh token（OAuth2 POST）。',
                'token 服务返回 200 OK，发给一个 token。',
            ],
            2: [
                '客户端向 r.example.com 请求 old 的清单，按 tag v1。',
                'registry 返回一个 schema 1 清单：一个层，用摘要标识。',
                '记录中客户端没有请求清单里的任何 blob。',
            ],
        },
        "notes": [
        ],
    },
    ('odd_ends-1', 'en'): {
        "steps": {
            1: [
                'The client asked r.example.com for the manifest of old by tag v2.',
                'The registry answered with a manifest of type application/json: 2 layers, each named by its '
                'digest.',
                'The trace holds no request for any blob it names.',
            ],
            2: [
                'The client asked r.example.com for blob sha256:ffffffffffff….',
                'The blob is served from another host: the registry answered 307 Temporary Redirect with a '
                'Location on cdn.example.net.',
                'The client follows it (step #3) without sending its registry token.',
            ],
            3: [
                'The client asked cdn.example.net for blob sha256:ffffffffffff… without its registry token.',
                'The request failed: 404 Not Found (NoSuchKey: The specified key does not exist).',
                'cdn.example.net has no object at the URL the redirect named.',
            ],
        },
        "notes": [
        ],
    },
    ('odd_ends-1', 'zh'): {
        "steps": {
            1: [
                '客户端向 r.example.com 请求 old 的清单，按 tag v2。',
                'registry 返回一个类型为 application/json 的清单：2 个层，每项都用摘要标识。',
                '记录中客户端没有请求清单里的任何 blob。',
            ],
            2: [
                '客户端向 r.example.com 请求 blob sha256:ffffffffffff…。',
                '这个 blob 由另一台主机提供：registry 返回 307 Temporary Redirect，Location 指向 '
                'cdn.example.net。',
                '客户端跟随重定向（第 3 步），不再带 registry 的 token。',
            ],
            3: [
                '客户端向 cdn.example.net 请求 blob sha256:ffffffffffff…（没有带 registry 的 token）。',
                '请求失败：404 Not Found（NoSuchKey：The specified key does not exist）。',
                'cdn.example.net 上没有重定向所指的那个对象。',
            ],
        },
        "notes": [
        ],
    },
    ('odd_ends-2', 'en'): {
        "steps": {
            1: [
                'The client asked the token service auth.example.com/token for a token for scope '
                'repository:other:pull, with a user name and password (Basic).',
                'It answered 200 OK with a token.',
            ],
            2: [
                'The client asked r.example.com for blob sha256:ffffffffffff….',
                'The blob is served from another host: the registry answered 307 Temporary Redirect with a '
                'Location on cdn.example.net.',
                'The client follows it (step #3) without sending its registry token.',
            ],
            3: [
                'Following the redirect of step #2, the client asked cdn.example.net, which sent it on again '
                '(302 Found to edge.example.net).',
            ],
            4: [
                'The client downloaded blob sha256:ffffffffffff… from edge.example.net without its registry '
                'token: 200 OK, 100 B.',
            ],
        },
        "notes": [
        ],
    },
    ('odd_ends-2', 'zh'): {
        "steps": {
            1: [
                '客户端到 token 服务 auth.example.com/token 申请 token（scope 为 repository:other:pull），'
                '带上了用户名和密码（Basic）。',
                'token 服务返回 200 OK，发给一个 token。',
            ],
            2: [
                '客户端向 r.example.com 请求 blob sha256:ffffffffffff…。',
                '这个 blob 由另一台主机提供：registry 返回 307 Temporary Redirect，Location 指向 '
                'cdn.example.net。',
                '客户端跟随重定向（第 3 步），不再带 registry 的 token。',
            ],
            3: [
                '客户端跟随第 2 步的重定向请求 cdn.example.net，它又一次重定向（302 Found，指向 '
                'edge.example.net）。',
            ],
            4: [
                '客户端从 edge.example.net 下载 blob sha256:ffffffffffff…（没有带 registry 的 token）：200 OK，'
                '100 B。',
            ],
        },
        "notes": [
        ],
    },
    ('not_pulls-0', 'en'): {
        "steps": {
            1: [
                'The client asked r.example.com for a listing (/v2/_catalog); this is not a step of pulling an '
                'image.',
            ],
            2: [
                'The client sent PUT /v2/app/manifests/1.0 to r.example.com: part of pushing an image, not '
                'pulling one.',
            ],
            3: [
                'The client sent GET /favicon.ico to r.example.com; this request is not part of the registry '
                'pull protocol.',
                'The request failed: 404 Not Found.',
                'Nothing is at this URL.',
            ],
        },
        "notes": [
        ],
    },
    ('not_pulls-0', 'zh'): {
        "steps": {
            1: [
                '客户端向 r.example.com 查询列表（/v2/_catalog），这不是拉取镜像的步骤。',
            ],
            2: [
                '客户端向 r.example.com 发送 PUT /v2/app/manifests/1.0：这是推送镜像的步骤，不是拉取。',
            ],
            3: [
                '客户端向 r.example.com 发送 GET /favicon.ico，这个请求不属于 registry 的拉取协议。',
                '请求失败：404 Not Found。',
                '这个 URL 下什么也没有。',
            ],
        },
        "notes": [
        ],
    },
    ('not_pulls-1', 'en'): {
        "steps": {
            1: [
                'The client could not reach down.example.com:443: connection refused.',
            ],
        },
        "notes": [
        ],
    },
    ('not_pulls-1', 'zh'): {
        "steps": {
            1: [
                '客户端连不上 down.example.com:443：connection refused。',
            ],
        },
        "notes": [
        ],
    },
    ('fallback', 'en'): {
        "steps": {
        },
        "notes": [
            'Layers the client already had: the manifest names 4 blobs, and the client never asked for config '
            'sha256:cccccccccccc… and layer 3 of 3 sha256:ffffffffffff…, so they were not downloaded; a client '
            'skips the blobs it already holds.',
            'Downloads at once: at most 2 blob downloads ran at the same time (steps #3, #4, from +30 ms).',
            'Fallback: the client first asked mirror.example.com, then went to registry-1.docker.io.',
        ],
    },
    ('fallback', 'zh'): {
        "steps": {
        },
        "notes": [
            '已经存在的镜像层怎么处理：清单列出 4 个 blob，客户端始终没有请求 配置 sha256:cccccccccccc…和第 '
            '3/3 层 sha256:ffffffffffff…，所以这几个都没有下载；客户端本地已有的 blob 不会再下载。',
            '同时下载几个：最多 2 个 blob 同时在下载（第 3、4 步，从 +30 ms 起）。',
            '回退：客户端先请求 mirror.example.com，后来改到 registry-1.docker.io。',
        ],
    },
}

