"""The recorder: exchanges in, finished pulls out, numbered once, each handed to every sink."""

import logging

from pulltrace.capture.recorder import Recorder
from pulltrace.engine import Engine
from pulltrace.model import Exchange


def ex(id: str, t: float, url: str = "https://hub.pulltrace.test/v2/library/tiny/manifests/latest", **kw) -> Exchange:
    return Exchange(id=id, method=kw.pop("method", "GET"), url=url, started_at=t, client="10.0.0.1:4000",
                    duration_ms=1.0, **kw)


def test_sessions_are_numbered_in_closing_order_and_a_failing_sink_spares_the_others(caplog):
    seen: list[tuple[int, str]] = []

    def broken(session, number):
        raise OSError("disk full")

    r = Recorder(Engine(idle_s=5.0), [broken, lambda s, n: seen.append((n, s.summary.image))])
    r.add(ex("a", 10.0, status=404))
    r.add(ex("b", 12.0, "https://hub.pulltrace.test/v2/library/other/manifests/latest", status=404))
    caplog.set_level(logging.ERROR, logger="pulltrace")
    r.tick(15.5)  # the first pull has been quiet for 5 s, the second not yet
    r.finish()
    assert seen == [(1, "hub.pulltrace.test/library/tiny:latest"), (2, "hub.pulltrace.test/library/other:latest")]
    assert [m for m in caplog.messages if "an output failed" in m] == ["pulltrace: an output failed on pull 1",
                                                                        "pulltrace: an output failed on pull 2"]
