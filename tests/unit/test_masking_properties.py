"""Property tests: random secrets planted in random places of random pulls never
survive the model or any output format, and masking is idempotent and keeps JSON JSON.

Example counts are modest so the quick run stays fast; bench/fuzz_masking.py runs the
same generators over 10,000 inputs.
"""

from __future__ import annotations

import dataclasses
import json

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from test_masking_plants import Plant, any_secret, jwt_secret, leaked, plant_pull

from pulltrace.model import Finding, Severity, Trace
from pulltrace.pipeline import build_trace
from pulltrace.redact import mask_exchange, mask_json_text, mask_text, mask_trace, mask_url
from pulltrace.render.outputs import FORMATS, render

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OUTPUTS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RANDOMS = st.randoms(use_true_random=True)


def _model_text(value: object) -> str:
    return json.dumps(dataclasses.asdict(value), ensure_ascii=False, default=str)  # type: ignore[call-overload]


def _all_outputs(trace: Trace) -> dict[str, str]:
    return {fmt: render(trace, fmt) for fmt in FORMATS}


@FAST
@given(RANDOMS)
def test_no_planted_secret_survives_masking_an_exchange(rnd):
    plant = plant_pull(rnd)
    masked = [mask_exchange(ex) for ex in plant.exchanges]
    assert leaked(plant, "\n".join(_model_text(ex) for ex in masked)) == []
    assert all(ex.secrets_masked for ex in masked)


@FAST
@given(RANDOMS)
def test_a_location_and_the_download_it_redirects_to_stay_equal(rnd):
    plant = plant_pull(rnd)
    redirect, download = (mask_exchange(ex) for ex in plant.exchanges[3:5])
    assert redirect.response_header("location") == download.url


@OUTPUTS
@given(RANDOMS)
def test_no_planted_secret_reaches_any_output_of_a_masked_capture(rnd):
    plant = plant_pull(rnd)
    trace = build_trace([mask_exchange(ex) for ex in plant.exchanges], "property")
    for fmt, text in _all_outputs(trace).items():
        assert leaked(plant, text) == [], f"{fmt} leaked (planted in {plant.places})"


def _plant_in_the_trace(rnd, plant: Plant, trace: Trace) -> None:
    """Secrets where no exchange is: notes, summary errors, finding texts, step facts."""
    for _ in range(3):
        secret = any_secret(rnd)
        plant.needles.add(secret[-16:])
        where = rnd.randrange(4)
        session = trace.sessions[0]
        if where == 0:
            trace.notes.append(f"captured behind https://alice:{secret}@proxy.test/")
        elif where == 1:
            session.summary.errors.append(f"GET https://cdn.test/x?Signature={secret}&n=1: 403 Forbidden")
        elif where == 2:
            session.findings.append(Finding(rule="planted", severity=Severity.ERROR, title=f"Bearer {secret}",
                                            cause=f"token {secret} expired", fix="pull again"))
        else:
            planted = f"https://cdn.test/{jwt_secret(rnd)}/?sig={secret}"
            facts = rnd.choice(session.steps).facts
            if rnd.random() < 0.5:
                setattr(facts, rnd.choice(["location", "account", "media_type"]), planted)
            else:  # a claims object under any key
                facts.claims = {rnd.choice(["token", "refreshToken", "note"]): planted}


@OUTPUTS
@given(RANDOMS)
def test_the_final_pass_masks_a_trace_whose_flags_lie(rnd):
    plant = plant_pull(rnd)
    for ex in plant.exchanges:
        ex.secrets_masked = True  # claims to be masked; nothing in it is
    trace = build_trace(plant.exchanges, "property")
    _plant_in_the_trace(rnd, plant, trace)
    masked = mask_trace(trace)
    assert leaked(plant, _model_text(masked)) == []
    for fmt, text in _all_outputs(masked).items():
        assert leaked(plant, text) == [], f"{fmt} leaked (planted in {plant.places})"


# Free text with secrets and the characters that delimit them, in any order.
_PIECES = st.sampled_from([" ", "&", "=", "?", ":", ": ", "\n", '"', "\\", "/", ".", "@", "%3D", "%26", "\\u0026",
                           "Bearer ", "Basic ", "token", "Signature", "password=", '"token":', "https://u:p@h/",
                           "eyJ", "…", "<", ">", ";", ",", "{", "}", "[", "]"])


@st.composite
def _texts(draw):
    rnd = draw(RANDOMS)
    parts = draw(st.lists(st.one_of(_PIECES, st.text(max_size=8), st.just("").map(lambda _: any_secret(rnd))),
                          max_size=30))
    return "".join(parts)


@FAST
@given(_texts())
def test_masking_is_idempotent_and_a_url_masks_as_text(text):
    once = mask_text(text)
    assert mask_text(once) == once
    assert mask_url(text) == once


@st.composite
def _documents(draw):
    rnd = draw(RANDOMS)
    keys = st.sampled_from(["token", "accessToken", "refresh_token", "password", "name", "value", "auth", "msg", "x"])
    leaves = st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none(),
                       st.just("").map(lambda _: any_secret(rnd)),
                       st.just("").map(lambda _: f"https://cdn.test/o?sig={any_secret(rnd)}"))
    return draw(st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(keys, inner, max_size=4)),
                             max_leaves=12))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents(), st.sampled_from([None, 2]))
def test_json_text_stays_json(document, indent):
    text = json.dumps(document, indent=indent, ensure_ascii=rnd_ascii(document))
    masked = mask_json_text(text)
    json.loads(masked)
    assert mask_json_text(masked) == masked


def rnd_ascii(document: object) -> bool:
    """Write some documents with `\\u` escapes, some without (the two ways JSON arrives)."""
    return hash(json.dumps(document, default=str)) % 2 == 0
