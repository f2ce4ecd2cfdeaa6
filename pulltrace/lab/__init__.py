"""The lab: real registries on this machine that replay, offline, the flows of real pulls.

One nginx terminates TLS for every lab hostname (`hub.pulltrace.test`, `gcr.…`, …) and
proxies to Debian's docker-registry instances and pulltrace's own token service on
loopback ports. `pulltrace lab up` builds and pushes deterministic images; `Lab` is the
Python handle tests and other modules use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Lab", "LabError"]


def __getattr__(name: str) -> Any:
    # Lazy, so `python -m pulltrace.lab.token_service` does not import the orchestration.
    if name in __all__:
        from pulltrace.lab import lab

        return getattr(lab, name)
    raise AttributeError(name)
