"""The recorder: exchanges in, finished pulls out, numbered once, each handed to every sink."""

import logging

from pulltrace.capture.recorder import HOLD_S, Recorder
from pulltrace.engine import Engine
from pulltrace.model import Exchange

KEY = ("10.0.0.1:4000", "plain.pulltrace.test:5999")


def ex(id: str, t: float, url: str = "https://hub.pulltrace.test/v2/library/tiny/manifests/latest", **kw) -> Exchange:
    return Exchange(id=id, method=kw.pop("method", "GET"), url=url, started_at=t, client="10.0.0.1:4000",
                    duration_ms=1.0, **kw)


class Fed(Engine):
    """The engine, noting the order exchanges reach it."""

    def __init__(self) -> None:
        super().__init__(idle_s=30.0)
        self.order: list[str] = []

    def feed(self, exchange):
        self.order.append(exchange.id)
        return super().feed(exchange)


def test_a_connect_failure_its_http_request_also_reports_is_dropped():
    engine = Fed()
    r = Recorder(engine, [])
    r.add(ex("connect", 10.0, "https://plain.pulltrace.test:5999/", method="CONNECT", error="connect: refused"),
          failure_key=KEY, connection_failure=True)
    r.add(ex("get", 9.99, "http://plain.pulltrace.test:5999/v2/", error="refused"), failure_key=KEY)
    r.finish()
    assert engine.order == ["get"]


def test_a_held_failure_reaches_the_engine_before_what_began_after_it():
    engine = Fed()
    r = Recorder(engine, [])
    r.add(ex("tunnel", 10.0, "https://plain.pulltrace.test:5999/", method="CONNECT", error="connect: refused"),
          failure_key=KEY, connection_failure=True)
    r.add(ex("retry", 10.2, "http://plain.pulltrace.test:5999/v2/", status=200))
    assert engine.order == ["tunnel", "retry"]


def test_a_held_failure_with_nothing_after_it_is_fed_on_a_later_tick():
    engine = Fed()
    r = Recorder(engine, [])
    r.add(ex("tunnel", 10.0, "https://plain.pulltrace.test:5999/", method="CONNECT", error="connect: refused"),
          failure_key=KEY, connection_failure=True)
    r.tick(10.0 + HOLD_S / 2)
    assert engine.order == []
    r.tick(10.0 + HOLD_S)
    assert engine.order == ["tunnel"]


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
