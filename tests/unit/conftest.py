"""Unit tests drive the addon's recorder in the test's own process: they tick it with recorded
times and look inside it. The worker process that records by default is tested on its own
(tests/unit/capture/test_worker.py) and by every lab test that runs a real mitmdump."""

import pytest


@pytest.fixture(autouse=True)
def _recorder_in_process(monkeypatch):
    from pulltrace.capture import addon

    monkeypatch.setattr(addon, "WORKER_DEFAULT", False)
