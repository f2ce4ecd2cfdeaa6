"""Every trace pulltrace writes validates against the documented schema (pulltrace/trace-v2.schema.json)."""

import json
from pathlib import Path

import jsonschema
import pytest

from pulltrace.model import SCHEMA_VERSION, Trace

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "pulltrace" / f"trace-v{SCHEMA_VERSION}.schema.json").read_text())
SAMPLES = sorted((ROOT / "samples").rglob("*.json"))


def test_the_schema_is_itself_valid():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(ROOT / "samples")))
def test_samples_validate(path):
    jsonschema.validate(json.loads(path.read_text()), SCHEMA)


def test_what_the_model_writes_validates():
    """Written from the model, not read from a file: a new field or kind must be documented."""
    for path in SAMPLES:
        data = json.loads(Trace.from_json(path.read_text()).to_json())
        jsonschema.validate(data, SCHEMA)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.update(version=3),
        lambda d: d["sessions"][0]["steps"][0].update(kind="teleport"),
        lambda d: d["sessions"][0]["steps"][0]["exchange"].update(body_sha256="md5:abc"),
        lambda d: d["sessions"][0]["steps"][0]["exchange"].update(request_headers=[["only-a-name"]]),
    ],
    ids=["version", "kind", "digest", "header-pair"],
)
def test_the_schema_refuses_what_readers_would_not_understand(breakage):
    data = json.loads((ROOT / "samples" / "lab" / "docker-hub-multi.json").read_text())
    breakage(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)
