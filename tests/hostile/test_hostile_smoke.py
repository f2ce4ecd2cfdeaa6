"""The relay itself: untouched, a pull through it is a healthy pull."""

from __future__ import annotations

import pytest
from hostilehelpers import pull

pytestmark = pytest.mark.lab


def test_a_pull_through_a_passthrough_relay_succeeds(lab, relay, tmp_path, capsys):
    hub = relay("hub")
    code, err, out = pull(capsys, tmp_path, f"{lab.host('hub')}:{hub.port}/library/tiny")
    assert code == 0, err
    assert out.exists()
    assert any("/manifests/" in r.path for r in hub.requests)
