"""The incremental engine's contract (ENGINE-API): one step per exchange on arrival, each pull
handed out once when it completes or goes quiet, and nothing kept after that."""

from __future__ import annotations

from engine_recorded import recording, replay

from pulltrace.engine import Engine
from pulltrace.model import Exchange, StepKind

SKOPEO = recording("skopeo-hub-three")
PODMAN = recording("podman-hub-multi")


def _end(ex: Exchange) -> float:
    return ex.started_at + (ex.duration_ms or 0.0) / 1000.0


def _workload(pulls: int) -> list[Exchange]:
    out: list[Exchange] = []
    for n in range(pulls):
        source = SKOPEO if n % 2 else PODMAN
        out += replay(source, at=1000.0 + 0.5 * n, tag=f"p{n}", client=f"10.9.0.{n % 4}")
    return out


def _feed(engine: Engine, exchanges: list[Exchange], *, order=lambda e: e.started_at):
    sessions, held = [], 0
    for ex in sorted(exchanges, key=order):
        sessions += engine.close_idle(order(ex))
        step = engine.feed(ex)
        assert step.exchange is ex
        held = max(held, engine.held_steps)
    return sessions, held


def test_each_pull_is_handed_out_once_and_then_forgotten():
    engine = Engine(idle_s=30.0)
    during, _ = _feed(engine, _workload(40))
    rest = engine.finish()
    sessions = during + rest
    assert len(sessions) == 40 and len({id(s) for s in sessions}) == 40
    assert during  # complete pulls left before the end of the input
    assert (engine.open_sessions, engine.held_steps) == (0, 0)
    assert engine.finish() == []


def test_what_the_engine_holds_does_not_grow_with_the_capture():
    _, held_small = _feed(Engine(), _workload(50))
    _, held_large = _feed(Engine(), _workload(500))
    assert held_large == held_small


def test_complete_pulls_close_before_the_idle_time():
    engine = Engine(idle_s=30.0)
    exchanges = replay(SKOPEO, at=1000.0, tag="a")
    for ex in exchanges:
        engine.feed(ex)
    last = max(_end(ex) for ex in exchanges)
    assert engine.close_idle(last + 0.5) == []  # complete, but a client may still ask for more
    (session,) = engine.close_idle(last + 3.0)  # quiet after completing: closed, well before 30 s
    assert session.summary.layers_fetched == 3 and session.findings == []
    assert engine.open_sessions == 0


def test_completion_order_groups_like_start_order():
    # The addon sees exchanges as they complete, a file as they started: same pulls either way.
    exchanges = _workload(24)

    def groups(order) -> list[list[str]]:
        engine = Engine()
        closed, _ = _feed(engine, exchanges, order=order)
        return sorted(sorted(step.id for step in s.steps) for s in closed + engine.finish())

    by_start, by_end = groups(lambda e: e.started_at), groups(_end)
    assert len(by_start) == 24
    assert by_end == by_start


def test_a_connection_failure_the_proxy_saw_is_a_step_of_the_pull_that_follows():
    engine = Engine()
    failure = Exchange(id="c1", method="CONNECT", url="https://hub.pulltrace.test:443/", started_at=999.0,
                       client="10.9.9.9:5000", error="connect: [Errno 111] Connection refused")
    step = engine.feed(failure)
    assert step.kind is StepKind.CONNECTION and step.error == "CONNECT /: connect: [Errno 111] Connection refused"
    assert engine.session_of("c1") is None  # waits for the pull it belongs to
    for ex in replay(SKOPEO, at=1000.0, tag="a", client="10.9.9.9"):
        engine.feed(ex)
    (session,) = engine.finish()
    assert [s.id for s in session.steps][0] == "c1" and len(session.steps) == 12
