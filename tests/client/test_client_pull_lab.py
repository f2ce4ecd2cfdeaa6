"""`pulltrace pull` against every lab endpoint: real registries, real nginx, real CDN."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from clienthelpers import archive_digests, kinds, run_pull, steps

from pulltrace.commands.main import main
from pulltrace.model import StepKind, load_trace

pytestmark = pytest.mark.lab


def pull(tmp_path: Path, ref: str, *extra: str, name: str = "out") -> tuple[int, Path, Path]:
    out, trace = tmp_path / f"{name}.tar", tmp_path / f"{name}.json"
    code = main(["pull", ref, "-q", "-o", str(out), "--cache", str(tmp_path / "cache"), "--save-trace", str(trace),
                 *extra])
    return code, out, trace


def assert_image(out: Path, info) -> None:
    config, layers = archive_digests(out)
    assert config == info.config_digest
    assert layers == [layer.digest for layer in info.layers]


@pytest.mark.parametrize("endpoint,ref,extra,shape", [
    ("hub", "library/three", [], ["blob-redirect", "cdn-download"]),
    ("gcr", "library/tiny", [], ["blob-redirect", "cdn-download"]),
    ("basic", "library/tiny", ["-u", "admin", "-p", "admin-pass"], ["layer-blob"]),
    ("harbor", "library/tiny", [], ["layer-blob"]),
    ("hub", "team/app", ["-u", "alice", "-p", "alice-pass"], ["cdn-download"]),
], ids=["hub-307", "gcr-302", "basic", "harbor", "hub-credentialed"])
def test_pull_each_endpoint(lab, tmp_path, capsys, endpoint, ref, extra, shape):
    code, out, trace_path = pull(tmp_path, f"{lab.host(endpoint)}/{ref}", *extra)
    assert code == 0, capsys.readouterr().err
    assert_image(out, lab.images[ref])
    seen = kinds(trace_path)
    assert seen[:2] == ["ping", "token"] or (endpoint == "basic" and seen[0] == "ping")
    for kind in shape:
        assert kind in seen
    summary = capsys.readouterr().out
    assert summary.startswith(f"pulled {lab.host(endpoint)}/{ref}:latest")
    assert lab.images[ref].digest[:19] in summary


def test_request_order_is_dockers_head_by_tag_then_get_by_digest(lab, tmp_path):
    info = lab.images["library/tiny"]
    code, _, trace_path = pull(tmp_path, f"{lab.host('harbor')}/library/tiny")
    assert code == 0
    requests = [(s.exchange.method, s.exchange.url.split("/v2/")[-1]) for s in steps(load_trace(trace_path))]
    assert requests[:4] == [("GET", ""), ("GET", requests[1][1]), ("HEAD", "library/tiny/manifests/latest"),
                            ("GET", f"library/tiny/manifests/{info.digest}")]
    accept = steps(load_trace(trace_path))[2].exchange.request_header("accept")
    assert "application/vnd.oci.image.index.v1+json" in accept and "manifest.list.v2+json" in accept


def test_secrets_are_masked_in_the_trace_unless_asked(lab, tmp_path):
    code, _, trace_path = pull(tmp_path, f"{lab.host('basic')}/library/tiny", "-u", "admin", "-p", "admin-pass")
    assert code == 0
    assert "YWRtaW46YWRtaW4tcGFzcw==" not in trace_path.read_text()  # base64 of admin:admin-pass

    masked, shown = tmp_path / "masked.json", tmp_path / "shown.json"
    for path, extra in ((masked, []), (shown, ["--show-secrets"])):
        assert main(["pull", f"{lab.host('hub')}/library/tiny", "-q", "--no-output", "--cache",
                     str(tmp_path / "c"), "--save-trace", str(path), *extra]) == 0
    manifest = next(s for s in steps(load_trace(shown)) if s.kind == StepKind.MANIFEST)
    bearer = manifest.exchange.request_header("authorization")
    assert bearer.startswith("Bearer eyJ") and "…" not in bearer
    token = bearer.split()[1]
    masked_text = masked.read_text()
    assert token not in masked_text and token[:40] not in masked_text
    assert token in shown.read_text()


@pytest.mark.parametrize("repo", ["library/multi", "library/multi-oci"])
def test_both_index_forms_resolve_to_the_requested_platform(lab, tmp_path, repo):
    info = lab.images[repo]
    for name, platform in info.platforms.items():
        code, out, trace_path = pull(tmp_path, f"{lab.host('hub')}/{repo}", "--platform", name,
                                     name=name.replace("/", "-"))
        assert code == 0
        assert_image(out, platform)
        trace = load_trace(trace_path)
        assert "manifest-index" in kinds(trace_path)
        assert trace.sessions[0].summary.manifest_digest == platform.digest


def test_missing_platform_lists_the_platforms_that_exist(lab, tmp_path, capsys):
    code, out, _ = pull(tmp_path, f"{lab.host('hub')}/library/multi", "--platform", "linux/s390x")
    err = capsys.readouterr().err.strip()
    assert code != 0 and not out.exists()
    assert err.count("\n") == 0 and err.startswith("pulltrace: ")
    assert "no image for linux/s390x" in err
    for name in lab.images["library/multi"].platforms:
        assert name.split("/")[1] in err


def test_pull_by_digest(lab, tmp_path):
    info = lab.images["library/three"]
    code, out, trace_path = pull(tmp_path, f"{lab.host('hub')}/library/three@{info.digest}")
    assert code == 0
    assert_image(out, info)
    assert "manifest-head" not in kinds(trace_path)


def test_mirror_first_then_upstream_on_failure(lab, tmp_path, capsys):
    info = lab.images["library/tiny"]
    mirror = f"{lab.host('hub')}={lab.url('mirror')}"
    code, out, trace_path = pull(tmp_path, f"{lab.host('hub')}/library/tiny", "--mirror", mirror)
    assert code == 0
    assert_image(out, info)
    hosts = {s.exchange.url.split("/")[2] for s in steps(load_trace(trace_path))}
    assert lab.host("mirror") in hosts and lab.host("hub") not in hosts

    broken = f"{lab.host('hub')}=https://127.0.0.1:9"  # nothing listens on the discard port
    code, out, trace_path = pull(tmp_path, f"{lab.host('hub')}/library/tiny", "--mirror", broken, name="fallback")
    assert code == 0
    assert_image(out, info)
    trace = load_trace(trace_path)
    assert any("falling back" in note for note in trace.notes)
    assert any(s.exchange.error for s in steps(trace))  # the mirror's failed attempts are in the trace


def test_seed_002_reverse_proxy_layout_from_the_environment(lab, tmp_path):
    proxy = lab.url("proxy")
    env = {"DOCKER_REGISTRY_REVERSE_PROXY": f"{proxy}/docker-registry",
           "DOCKER_AUTH_REVERSE_PROXY": f"{proxy}/docker-auth/token",
           "DOCKER_BLOB_REVERSE_PROXY": f"{proxy}/docker-blob"}
    out, trace_path = tmp_path / "tiny.tar", tmp_path / "t.json"
    # `library/tiny` is a Docker Hub name, as `alpine` in the seed: every request goes to the proxy.
    proc = run_pull("library/tiny", "-q", "-o", str(out), "--cache", str(tmp_path / "cache"),
                    "--save-trace", str(trace_path), env=env)
    assert proc.returncode == 0, proc.stderr
    assert_image(out, lab.images["library/tiny"])
    urls = [s.exchange.url for s in steps(load_trace(trace_path))]
    assert all(u.startswith(proxy + "/docker-") for u in urls)
    assert any("/docker-auth/token?" in u for u in urls)
    assert any("/docker-blob/" in u for u in urls)
    blob_hops = [s for s in steps(load_trace(trace_path)) if "/docker-blob/" in s.exchange.url]
    assert blob_hops and all(s.exchange.request_header("authorization") is None for s in blob_hops)


@pytest.mark.parametrize("auth_proxy", ["/docker-auth", "/docker-auth/token", "/docker-auth/"],
                         ids=["bare-prefix", "with-path", "trailing-slash"])
def test_auth_proxy_works_with_or_without_the_realm_path(lab, tmp_path, auth_proxy):
    """The lab's proxy already rewrites the realm to `<proxy>/docker-auth/token`: a bare
    `--auth-proxy <proxy>/docker-auth` must not turn it into `/docker-auth/docker-auth/token`."""
    proxy = lab.url("proxy")
    code, out, trace_path = pull(tmp_path, f"{lab.host('hub')}/library/tiny", "-u", "alice", "-p", "alice-pass",
                                 "--registry-proxy", f"{proxy}/docker-registry", "--auth-proxy", proxy + auth_proxy,
                                 "--blob-proxy", f"{proxy}/docker-blob")
    assert code == 0
    assert_image(out, lab.images["library/tiny"])
    token_urls = [s.exchange.url.split("?")[0] for s in steps(load_trace(trace_path))
                  if "/docker-auth" in s.exchange.url]
    assert token_urls and set(token_urls) == {f"{proxy}/docker-auth/token"}


def test_plain_http_registry_needs_insecure_registry(lab, tmp_path, capsys):
    host = lab.url("plain").split("//")[1]
    code, out, _ = pull(tmp_path, f"{host}/library/tiny")
    err = capsys.readouterr().err.strip()
    assert code != 0 and not out.exists()
    assert err.startswith("pulltrace: ") and "\n" not in err and "--insecure-registry" in err
    code, out, trace_path = pull(tmp_path, f"{host}/library/tiny", "--insecure-registry", host)
    assert code == 0
    assert_image(out, lab.images["library/tiny"])
    assert any(s.exchange.url.startswith("http://") for s in steps(load_trace(trace_path)))


def test_cache_skips_blobs_already_present_and_says_so(lab, tmp_path, capsys):
    code, _, _ = pull(tmp_path, f"{lab.host('hub')}/library/tiny")
    assert code == 0
    capsys.readouterr()
    # tiny-plus shares tiny's layer: only its own layer and config are fetched.
    code, out, trace_path = pull(tmp_path, f"{lab.host('hub')}/library/tiny-plus", name="plus")
    assert code == 0
    assert_image(out, lab.images["library/tiny-plus"])
    shared = lab.images["library/tiny"].layers[0].digest
    trace = load_trace(trace_path)
    fetched = [s.exchange.url for s in steps(trace) if s.kind in (StepKind.BLOB_REDIRECT, StepKind.LAYER_BLOB)]
    assert not any(shared in u for u in fetched)
    assert shared in trace.sessions[0].summary.skipped_blobs
    assert any("already in the cache" in n for n in trace.notes)
    assert "1 fetched, 1 cached" in capsys.readouterr().out


def test_cdn_never_sees_authorization(lab, tmp_path):
    log = lab.log("cdn-access")
    before = log.stat().st_size if log.exists() else 0
    code, _, _ = pull(tmp_path, f"{lab.host('hub')}/team/app", "-u", "alice", "-p", "alice-pass")
    assert code == 0
    with open(log, "rb") as f:
        f.seek(before)
        lines = f.read().decode(errors="replace").splitlines()
    layer = lab.images["team/app"].layers[0].digest.split(":")[1]
    mine = [line for line in lines if layer in line]
    assert mine and all("auth=absent" in line for line in mine)


@pytest.mark.parametrize("args,message", [
    (["hub", "library/nope"], "not found"),
    (["hub", "library/tiny:no-such-tag"], "not found"),
    (["hub", "private/secret"], "pull access denied"),
    (["hub", "private/secret", "-u", "alice", "-p", "alice-pass"], "denied for user 'alice'"),
    (["hub", "library/tiny", "-u", "admin", "-p", "wrong"], "refused user 'admin'"),
    (["basic", "library/tiny", "-u", "admin", "-p", "wrong"], "refused the password"),
    (["basic", "library/tiny"], "needs a login"),
], ids=["unknown-repo", "unknown-tag", "anonymous-private", "denied-scope", "wrong-password-token",
        "wrong-password-basic", "basic-anonymous"])
def test_user_errors_are_one_line(lab, tmp_path, capsys, args, message):
    host, repo, *extra = args
    code, out, trace_path = pull(tmp_path, f"{lab.host(host)}/{repo}", *extra)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert err.startswith("pulltrace: ") and "\n" not in err and "Traceback" not in err
    assert message in err
    assert not out.exists() and not list(tmp_path.glob(".out.tar*"))
    # The trace of a failed pull is still written: it is what explains the failure.
    assert any("pull failed" in n for n in load_trace(trace_path).notes)


def test_unreachable_host_and_tls_failure(lab, tmp_path, capsys):
    code, _, _ = pull(tmp_path, "nothing.pulltrace.test/library/tiny")
    err = capsys.readouterr().err.strip()
    assert code != 0 and "cannot reach nothing.pulltrace.test" in err and "\n" not in err
    # A CA nobody trusts: point SSL_CERT_FILE at an empty bundle in a subprocess.
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    proc = run_pull(f"{lab.host('hub')}/library/tiny", "-q", "--no-output", "--cache", str(tmp_path / "c"),
                    env={"SSL_CERT_FILE": str(empty), "SSL_CERT_DIR": str(tmp_path)})
    assert proc.returncode != 0
    assert proc.stderr.startswith("pulltrace: TLS failure talking to hub.pulltrace.test")
    assert proc.stderr.count("\n") == 1
    # ...and --ca-cert with the lab CA fixes it.
    proc = run_pull(f"{lab.host('hub')}/library/tiny", "-q", "--no-output", "--cache", str(tmp_path / "c"),
                    "--ca-cert", str(lab.ca_path), env={"SSL_CERT_FILE": str(empty), "SSL_CERT_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr


def test_html_report(lab, tmp_path):
    report = tmp_path / "r.html"
    code, _, _ = pull(tmp_path, f"{lab.host('hub')}/library/tiny", "--save-report", str(report))
    assert code == 0
    html = report.read_text()
    assert "<html" in html.lower() and "cdn.pulltrace.test" in html


def test_https_proxy_from_the_environment_is_honoured(lab, tmp_path):
    sys.path.insert(0, str(Path(__file__).parents[1] / "lab"))
    from labhelpers import TunnelProxy

    proxy = TunnelProxy()
    try:
        proc = run_pull(f"{lab.host('hub')}/library/tiny", "-q", "--no-output", "--cache", str(tmp_path / "c"),
                        env={"HTTPS_PROXY": proxy.url, "NO_PROXY": ""})
    finally:
        proxy.close()
    assert proc.returncode == 0, proc.stderr
    assert {f"{lab.host('hub')}:443", f"{lab.host('auth')}:443", f"{lab.host('cdn')}:443"} <= set(proxy.targets)


def test_password_from_stdin(lab, tmp_path):
    out = tmp_path / "app.tar"
    proc = run_pull(f"{lab.host('basic')}/team/app", "-q", "-o", str(out), "-u", "alice", "--password-stdin",
                    "--cache", str(tmp_path / "c"), stdin="alice-pass\n")
    assert proc.returncode == 0, proc.stderr
    assert_image(out, lab.images["team/app"])
