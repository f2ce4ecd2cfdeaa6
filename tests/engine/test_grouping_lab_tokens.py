"""Two identical programs on one host pulling one repository at once (issue 10): one address,
one User-Agent, one scope, so only the token each request presents tells the pulls apart.
The flow file mitmdump wrote holds the real tokens; the trace holds them masked, with their
prints (pulltrace.redact.prints). The test reads the truth from the flow file itself, and
checks both ways a capture is grouped: the flow file read back, and the live addon's
pulltrace.jsonl (prints taken in the proxy's process, grouped in pulltrace's worker)."""

from __future__ import annotations

import json
import shutil

import pytest
from engineclients import Clients, wait
from mitmproxy import http, io

from pulltrace.model import StepKind

pytestmark = pytest.mark.lab


def _tokens_on_the_wire(path) -> tuple[dict[str, str], dict[str, str]]:
    """flow id -> the Bearer token its request presented, and -> the token its response issued."""
    presented, issued = {}, {}
    with open(path, "rb") as f:
        for flow in io.FlowReader(f).stream():
            if not isinstance(flow, http.HTTPFlow):
                continue
            auth = flow.request.headers.get("authorization", "")
            if auth.lower().startswith("bearer "):
                presented[flow.id] = auth.split(" ", 1)[1].strip()
            if flow.response is not None and flow.response.status_code == 200 and "token" in (
                    flow.response.get_text(strict=False) or "")[:200]:
                body = flow.response.get_text(strict=False) or ""
                try:
                    data = json.loads(body)
                except ValueError:
                    continue
                if isinstance(data, dict) and isinstance(data.get("token"), str):
                    issued[flow.id] = data["token"]
    return presented, issued


@pytest.fixture(params=["capture", "addon_capture"], ids=["flow file", "live addon"])
def source(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("repository", ["library/three", "library/tiny"])
def test_two_identical_skopeo_copies_of_one_repository_each_keep_the_requests_that_present_their_token(
        lab, source, tmp_path, repository):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    clients = Clients(source, tmp_path)
    ref = f"{lab.host('hub')}/{repository}:latest"
    wait(clients.skopeo(ref), clients.skopeo(ref))
    trace = source.trace()
    presented, issued = _tokens_on_the_wire(source.flows)
    # Tokens named by the token response that issued them: a failure shows ids, not secrets.
    issuer = {token: flow_id for flow_id, token in issued.items()}
    assert len(issuer) == 2  # the token service issued one token to each
    written = json.dumps(trace.to_dict())
    assert not any(token in written for token in issuer)
    layers = len(lab.images[repository].layers)
    assert len(trace.sessions) == 2
    for session in trace.sessions:
        tokens = [s.id for s in session.steps if s.kind is StepKind.TOKEN]
        assert len(tokens) == 1 and tokens[0] in issued
        # Every request of the pull that presented a token presented this pull's own.
        shown = {issuer.get(presented[s.id], "a token from elsewhere") for s in session.steps if s.id in presented}
        assert shown == set(tokens)
        assert session.summary.image == ref and session.summary.layers_fetched == layers
        assert session.summary.skipped_blobs == [] and session.findings == []
    # Between them, the two pulls hold every request that presented a token.
    assert sorted(s.id for t in trace.sessions for s in t.steps if s.id in presented) == sorted(presented)
