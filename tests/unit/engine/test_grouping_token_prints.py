"""Two identical programs on one host (one address, one User-Agent) pulling one repository at
once: each request joins the pull whose token it presented. The token is the protocol's own
link (the token response issued it, the request carries it as `Authorization: Bearer`); it is
masked where exchanges enter the model, so each source keeps a fingerprint of it first
(pulltrace.redact.prints). These exchanges go through `mask_exchange`, as every capture's do."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy import http, io
from mitmproxy.test import tflow
from onelayer import CONFIG, DIGEST, LAYER, MANIFEST, MANIFEST_HEADERS

from pulltrace.capture.importers import load_exchanges
from pulltrace.capture.jsonl import session_line
from pulltrace.classify import prints_of
from pulltrace.client.recorder import Recorder
from pulltrace.model import Exchange, StepKind, Trace
from pulltrace.pipeline import build_trace
from pulltrace.redact import mask_authorization, mask_exchange
from pulltrace.redact.prints import credential_prints, fingerprint, presented_print

REG = "https://registry.example/v2"
REALM = "https://auth.example/token"
PING_CHALLENGE = [("WWW-Authenticate", f'Bearer realm="{REALM}",service="registry.example"')]
SCOPED_CHALLENGE = [("WWW-Authenticate", f'Bearer realm="{REALM}",service="registry.example",'
                                         'scope="repository:team/tiny:pull"')]
TOKEN_URL = f"{REALM}?scope=repository%3Ateam%2Ftiny%3Apull&service=registry.example"
# Two JWTs of one token service: the same header, so masked they read alike (`eyJhbGci…`).
TOKENS = {
    "a": "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIiLCJqdGkiOiIxMTEifQ.QUFBQUFBQUFBQUFBQUFBQUFB",
    "b": "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIiLCJqdGkiOiIyMjIifQ.QkJCQkJCQkJCQkJCQkJCQkJC",
}
SKOPEO = "skopeo/1.9.3"


def _ex(id_: str, at: float, url: str, *, method: str = "GET", status: int = 200,
        headers: list[tuple[str, str]] | None = None, body: str | None = None, agent: str = SKOPEO) -> Exchange:
    """One exchange of program `id_[0]` (a or b), from its own connection, with its own token
    when the id says it presents one (…t)."""
    program, port = id_[0], {"a": 41000, "b": 42000}[id_[0]]
    request = [("User-Agent", agent)]
    if id_.endswith("t"):
        request.append(("Authorization", f"Bearer {TOKENS[program]}"))
    return Exchange(id=id_, method=method, url=url, started_at=at, duration_ms=5.0, status=status,
                    client=f"10.9.9.9:{port}", request_headers=request, response_headers=headers or [],
                    response_body_preview=body, secrets_masked=False)


def _token(id_: str, at: float) -> Exchange:
    body = json.dumps({"token": TOKENS[id_[0]], "expires_in": 300, "issued_at": "2026-12-02T02:00:00Z"})
    return _ex(id_, at, TOKEN_URL, headers=[("Content-Type", "application/json")], body=body)


def _masked(exchanges: list[Exchange]) -> list[Exchange]:
    return [mask_exchange(ex) for ex in exchanges]


def _ids(trace: Trace, *, but: StepKind | None = None) -> list[list[str]]:
    return sorted(sorted(step.id for step in session.steps if step.kind is not but) for session in trace.sessions)


def _skopeo_pair() -> list[Exchange]:
    # Both ping, both get a token; b presents its token first, then they take turns on blobs.
    return [
        _ex("a1", 1.00, f"{REG}/", status=401, headers=PING_CHALLENGE),
        _ex("b1", 1.01, f"{REG}/", status=401, headers=PING_CHALLENGE),
        _token("a2", 1.02),
        _token("b2", 1.03),
        _ex("b3t", 1.04, f"{REG}/team/tiny/manifests/latest", headers=MANIFEST_HEADERS, body=MANIFEST),
        _ex("a3t", 1.05, f"{REG}/team/tiny/manifests/latest", headers=MANIFEST_HEADERS, body=MANIFEST),
        _ex("b4t", 1.06, f"{REG}/team/tiny/blobs/{CONFIG}"),
        _ex("a4t", 1.07, f"{REG}/team/tiny/blobs/{CONFIG}"),
        _ex("a5t", 1.08, f"{REG}/team/tiny/blobs/{LAYER}"),
        _ex("b5t", 1.09, f"{REG}/team/tiny/blobs/{LAYER}"),
    ]


def test_two_skopeo_copies_of_one_repository_at_once_each_keep_the_requests_that_present_their_token():
    trace = build_trace(_masked(_skopeo_pair()), "t")
    # The two pings are alike in everything (no credential, one User-Agent, no connection
    # the manifest shares): one each, whichever.
    assert _ids(trace, but=StepKind.PING) == [["a2", "a3t", "a4t", "a5t"], ["b2", "b3t", "b4t", "b5t"]]
    for session in trace.sessions:
        assert [step.kind for step in session.steps].count(StepKind.PING) == 1
        token = next(step for step in session.steps if step.kind is StepKind.TOKEN)
        manifest = next(step for step in session.steps if step.kind is StepKind.MANIFEST)
        assert token.linked("retried-by") == [manifest.id]
        assert manifest.id[0] == token.id[0]
        assert session.summary.layers_fetched == 1 and session.summary.skipped_blobs == []
        assert session.summary.image == "registry.example/team/tiny:latest"
        assert session.summary.auth == "anonymous-bearer"
        assert session.findings == []


def test_two_programs_that_never_ping_each_keep_the_requests_that_present_their_token():
    # containerd's way: HEAD by tag (401), a token, HEAD again with it, GET by digest, blobs.
    # Both are challenged for one scope, so which 401 a token answered is anyone's guess;
    # what presented the token is not.
    tag, by_digest = f"{REG}/team/tiny/manifests/latest", f"{REG}/team/tiny/manifests/{DIGEST}"
    ctr = "containerd/1.6.20"
    exchanges = [
        _ex("a1", 1.00, tag, method="HEAD", status=401, headers=SCOPED_CHALLENGE, agent=ctr),
        _ex("b1", 1.01, tag, method="HEAD", status=401, headers=SCOPED_CHALLENGE, agent=ctr),
        _token("a2", 1.02),
        _token("b2", 1.03),
        _ex("b3t", 1.04, tag, method="HEAD", headers=MANIFEST_HEADERS, agent=ctr),
        _ex("a3t", 1.05, tag, method="HEAD", headers=MANIFEST_HEADERS, agent=ctr),
        _ex("a4t", 1.06, by_digest, headers=MANIFEST_HEADERS, body=MANIFEST, agent=ctr),
        _ex("b4t", 1.07, by_digest, headers=MANIFEST_HEADERS, body=MANIFEST, agent=ctr),
        _ex("b5t", 1.08, f"{REG}/team/tiny/blobs/{LAYER}", agent=ctr),
        _ex("a5t", 1.09, f"{REG}/team/tiny/blobs/{CONFIG}", agent=ctr),
        _ex("a6t", 1.10, f"{REG}/team/tiny/blobs/{LAYER}", agent=ctr),
        _ex("b6t", 1.11, f"{REG}/team/tiny/blobs/{CONFIG}", agent=ctr),
    ]
    trace = build_trace(_masked(exchanges), "t")
    assert len(trace.sessions) == 2
    for session in trace.sessions:
        presenting = sorted(step.id for step in session.steps if step.id.endswith("t"))
        program = presenting[0][0]
        assert presenting == sorted(f"{program}{n}t" for n in range(3, 7))
        tokens = [step.id for step in session.steps if step.kind is StepKind.TOKEN]
        assert tokens == [f"{program}2"]
        assert [step.kind for step in session.steps].count(StepKind.MANIFEST_HEAD) == 2  # its 401 and its retry
        assert session.summary.layers_fetched == 1 and session.summary.skipped_blobs == []


def test_prints_survive_masking_and_no_output_writes_them():
    raw = _skopeo_pair()
    masked = _masked(raw)
    token_b, manifest_b = masked[3], masked[4]
    assert TOKENS["b"] not in json.dumps([token_b.response_body_preview, token_b.request_headers,
                                          manifest_b.request_headers])
    assert manifest_b.prints is not None and token_b.prints is not None
    assert manifest_b.prints.presented in token_b.prints.issued
    assert manifest_b.prints.presented != masked[5].prints.presented  # a's manifest, a's token
    trace = build_trace(masked, "t")
    written = trace.to_json() + "".join(session_line(s) for s in trace.sessions)
    prints = {ex.prints.presented for ex in masked if ex.prints and ex.prints.presented}
    assert len(prints) == 2
    assert not any(p in written for p in prints) and '"prints"' not in written
    assert all(token not in written for token in TOKENS.values())


def test_a_masked_credential_has_no_print():
    # A trace read back holds `Bearer eyJhbGci…` for every token of one service: a print of
    # that would link every request to every token.
    masked = _masked(_skopeo_pair())
    again = [credential_prints(ex) for ex in masked]
    assert all(p.presented is None and p.issued == frozenset() for p in again)
    empty_basic = _ex("a9", 1.0, f"{REG}/", status=401)
    empty_basic.request_headers.append(("Authorization", "Basic Og=="))
    assert credential_prints(empty_basic).presented is None


def test_without_prints_the_same_traffic_is_still_two_pulls_of_one_image_each():
    # A trace written before prints existed, read back: the older rules (address, User-Agent,
    # scope, order) group it; the two pulls stay whole even if a blob may swap.
    masked = _masked(_skopeo_pair())
    trace = build_trace([dataclasses.replace(ex, prints=None) for ex in masked], "t")
    assert len(trace.sessions) == 2
    assert [len(s.steps) for s in trace.sessions] == [5, 5]


def _as_har(exchanges: list[Exchange]) -> dict[str, object]:
    def headers(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [{"name": k, "value": v} for k, v in pairs]
    entries = [{
        "startedDateTime": datetime.datetime.fromtimestamp(1.8e9 + ex.started_at, datetime.UTC).isoformat(),
        "time": ex.duration_ms,
        "request": {"method": ex.method, "url": ex.url, "httpVersion": "HTTP/1.1",
                    "headers": headers(ex.request_headers), "queryString": [], "cookies": [],
                    "headersSize": -1, "bodySize": 0},
        "response": {"status": ex.status, "statusText": "", "httpVersion": "HTTP/1.1",
                     "headers": headers(ex.response_headers), "cookies": [], "redirectURL": "",
                     "headersSize": -1, "bodySize": len(ex.response_body_preview or ""),
                     "content": {"size": len(ex.response_body_preview or ""),
                                 "mimeType": "application/json" if ex.response_body_preview else "",
                                 **({"text": ex.response_body_preview} if ex.response_body_preview else {})}},
        "cache": {}, "timings": {"send": 0, "wait": 5, "receive": 0},
        "_pulltrace": {"id": ex.id, "client": ex.client},
    } for ex in exchanges]
    return {"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}}


def _headers(pairs: list[tuple[str, str]]) -> http.Headers:
    return http.Headers([(k.encode(), v.encode()) for k, v in pairs])


def _as_flows(exchanges: list[Exchange]) -> list[http.HTTPFlow]:
    flows = []
    for ex in exchanges:
        host, port = ex.client.rsplit(":", 1)
        flow = tflow.tflow(client_conn=tflow.tclient_conn(), resp=True)
        flow.client_conn.peername = (host, int(port))
        flow.request = http.Request.make(ex.method, ex.url, b"", _headers(ex.request_headers))
        flow.request.timestamp_start, flow.request.timestamp_end = 1.8e9 + ex.started_at, 1.8e9 + ex.started_at
        body = (ex.response_body_preview or "").encode()
        kind = [("Content-Type", "application/json")] if body and ex.status == 200 and "token" in ex.url else []
        flow.response = http.Response.make(ex.status or 0, body, _headers(ex.response_headers + kind))
        flow.response.timestamp_start = flow.response.timestamp_end = 1.8e9 + ex.started_at + 0.005
        flows.append(flow)
    return flows


@pytest.mark.parametrize("kind", ["har", "flow"])
def test_a_har_or_flow_file_keeps_each_request_with_the_pull_whose_token_it_presented(tmp_path, kind):
    # Both files hold the real token; the importer masks it and keeps its print on the way in.
    raw = _skopeo_pair()
    path = tmp_path / f"pair.{kind}"
    if kind == "har":
        path.write_text(json.dumps(_as_har(raw)))
    else:
        with path.open("wb") as f:
            writer = io.FlowWriter(f)
            for flow in _as_flows(raw):
                writer.add(flow)
    exchanges = load_exchanges(path)
    assert all(TOKENS["a"] not in json.dumps(ex.request_headers) for ex in exchanges)
    trace = build_trace(exchanges, str(path))
    assert len(trace.sessions) == 2
    for session in trace.sessions:
        # The program is its connection's port (a flow file names flows by ids of its own).
        assert len({step.exchange.client for step in session.steps if step.kind is not StepKind.PING}) == 1
        assert [step.kind for step in session.steps].count(StepKind.PING) == 1
        assert session.summary.layers_fetched == 1 and len(session.steps) == 5
    if kind == "har":
        assert _ids(trace, but=StepKind.PING) == [["a2", "a3t", "a4t", "a5t"], ["b2", "b3t", "b4t", "b5t"]]


_TOKEN68_FULL = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_CREDENTIAL = st.text(alphabet=st.sampled_from("ABCabc019-._~+/="), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(scheme=st.sampled_from(["Bearer", "Basic", "bearer"]), credential=_CREDENTIAL, noise=st.text(max_size=40))
def test_a_print_is_taken_of_a_clear_credential_only_never_of_its_mask(scheme, credential, noise):
    header = f"{scheme} {credential}"
    assert presented_print(mask_authorization(header)) is None
    assert presented_print(noise) is None or noise.split(" ", 1)[0].lower() in ("bearer", "basic")
    if _TOKEN68_FULL.fullmatch(credential) and credential.lower() not in ("og==", "og"):
        assert presented_print(header) == fingerprint(scheme, credential)
        assert len(presented_print(header) or "") == 12


def test_the_built_in_clients_record_keeps_the_print_of_the_token_it_presented():
    # The client records its requests unmasked and masks them when the pull ends; shown
    # unmasked (--show-secrets) the engine takes the print itself.
    recorder = Recorder()
    token_ex, _ = recorder.begin(httpx.Request("GET", TOKEN_URL))
    body = json.dumps({"token": TOKENS["a"]}).encode()
    recorder.response(token_ex, httpx.Response(200, headers={"Content-Type": "application/json"}))
    recorder.finish(token_ex, body=body)
    blob, _ = recorder.begin(httpx.Request("GET", f"{REG}/team/tiny/blobs/{CONFIG}",
                                           headers={"Authorization": f"Bearer {TOKENS['a']}"}))
    recorder.response(blob, httpx.Response(200))
    recorder.finish(blob, body=b"{}")
    masked_token, masked_blob = recorder.exchanges(mask_exchange)
    assert masked_blob.prints is not None and masked_token.prints is not None
    assert masked_blob.prints.presented in masked_token.prints.issued
    assert TOKENS["a"] not in json.dumps(masked_blob.request_headers)
    clear_token, clear_blob = recorder.exchanges()
    assert prints_of(clear_blob).presented == masked_blob.prints.presented
    assert prints_of(clear_token).issued == masked_token.prints.issued
