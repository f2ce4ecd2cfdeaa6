"""build_trace: every source's exchanges become the same trace, with integrity findings."""

import hashlib
from pathlib import Path

from pulltrace.capture.importers import load_exchanges
from pulltrace.diagnose.blobs import digest_mismatch
from pulltrace.model import Exchange, Trace
from pulltrace.pipeline import build_trace

SEEDS = Path(__file__).resolve().parents[1] / "data" / "seeds"
BLOB = b"layer bytes"
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
DIGEST_MISMATCH = "blob.digest-mismatch"


def _blob(n: int, sha: str) -> Exchange:
    return Exchange(id=f"b{n}", method="GET", url=f"https://r.test/v2/a/blobs/{DIGEST}", started_at=float(n),
                    status=200, response_bytes=len(BLOB), body_sha256=sha, client="10.0.0.1:1")


def test_trace_from_seed_round_trips_and_is_deterministic():
    exchanges = load_exchanges(SEEDS / "001-dockerhub-alpine.json")
    a = build_trace(exchanges, source="test")
    b = build_trace(load_exchanges(SEEDS / "001-dockerhub-alpine.json"), source="test")
    assert a.to_json() == b.to_json()
    assert a.created_at == max(e.started_at + (e.duration_ms or 0) / 1000 for e in exchanges)
    assert Trace.from_json(a.to_json()).to_json() == a.to_json()


def test_a_blob_that_hashes_to_its_digest_raises_nothing():
    trace = build_trace([_blob(1, DIGEST)], source="test")
    assert not [f for s in trace.sessions for f in s.findings if f.rule == DIGEST_MISMATCH]


def test_a_blob_with_other_bytes_is_a_digest_mismatch_finding():
    wrong = "sha256:" + hashlib.sha256(b"tampered").hexdigest()
    trace = build_trace([_blob(1, wrong)], source="test")
    (session,) = trace.sessions
    found = [f for f in session.findings if f.rule == DIGEST_MISMATCH]
    assert len(found) == 1 and "b1" in found[0].steps
    # The rule says the same on its own.
    assert [f.rule for f in digest_mismatch(session)] == [DIGEST_MISMATCH]


def test_a_recorded_redirect_loop_is_diagnosed_as_one():
    # Every hop of the lab's loop. is a blob-redirect now; the doctor's rule still sees the loop.
    exchanges = load_exchanges(Path(__file__).resolve().parents[1] / "data" / "lab" / "pulltrace-pull-loop.json")
    (session,) = build_trace(exchanges, source="test").sessions
    assert [f.rule for f in session.findings][:1] == ["blob.redirect-loop"]
    assert "loop.pulltrace.test → loop-cdn.pulltrace.test" in session.findings[0].title
