from __future__ import annotations

import threading

from pulltrace.client.retry import RetryPolicy, Sleeper, retry_after


def test_backoff_doubles_up_to_a_cap():
    policy = RetryPolicy(base_delay=0.5, max_delay=4)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1, 2, 4, 4]


def test_retry_after_seconds_and_http_date():
    assert retry_after("7") == 7.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after("soon") is None and retry_after(None) is None


def test_sleeper_is_cut_short_by_stop():
    stop = threading.Event()
    stop.set()
    assert Sleeper(stop)(30) is False
    assert Sleeper()(0) is True
