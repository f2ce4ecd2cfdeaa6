"""The pulltrace lab token service's request log (`token-requests.log`): one JSON object a line.

Fields (pulltrace/lab/token_service.py): `time` (to the second), `client`, `host`,
`user_agent`, `method`, `path`, `status`, and what the request asked and got: `kind`
(`get`: `scope` list, `service`, `account`, `client_id`, `offline_token`; `oauth2`:
`grant_type`, `scope`, `service`, `client_id`, `access_type`), `user` and `granted` (the
access the token carries). The token itself and the password are never logged, so the
exchange carries the granted access as the token's claims and no body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pulltrace.capture.logs.base import iso_time
from pulltrace.model import Exchange

_KEYS = frozenset({"time", "host", "path", "status", "kind"})


def sniff(line: str) -> bool:
    data = _load(line)
    return data is not None and _KEYS <= data.keys() and data.get("kind") in ("get", "oauth2")


def _load(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class TokenLogParser:
    def __init__(self, path: Path) -> None:
        self.file = path.name
        self.second = -1.0
        self.in_second = 0

    def feed(self, line: str, lineno: int) -> list[Exchange] | None:
        data = _load(line)
        if data is None:
            return None
        when = iso_time(str(data.get("time", "")))
        if when is None:
            return None
        if not _KEYS <= data.keys():
            return []  # a probe without a token request (the lab's health check)
        try:
            status = int(data["status"])
        except (TypeError, ValueError):
            return None
        host, path = str(data.get("host") or ""), str(data.get("path") or "/")
        headers: list[tuple[str, str]] = []
        if data.get("user_agent"):
            headers.append(("User-Agent", str(data["user_agent"])))
        user = data.get("user")
        body = None
        if data.get("kind") == "oauth2":
            method = "POST"
            form = [(k, str(data[k])) for k in ("grant_type", "service", "client_id", "access_type", "scope")
                    if data.get(k)]
            if user and data.get("grant_type") == "password":
                form.append(("username", str(user)))
            body = urlencode(form)  # the form's logged fields; password and refresh token are not logged
            query = ""
        else:
            method = str(data.get("method") or "GET")
            pairs = [("scope", str(s)) for s in data.get("scope") or []]
            pairs += [(k, str(data[k])) for k in ("service", "account", "client_id", "offline_token") if data.get(k)]
            query = "?" + urlencode(pairs) if pairs else ""
            if user and user != "(anonymous)":
                headers.append(("Authorization", "Basic …"))  # the service logs a Basic user's name
        granted = data.get("granted")
        if second_changed := when != self.second:
            self.second, self.in_second = when, 0
        if not second_changed:
            self.in_second = min(self.in_second + 1, 99_999)
        return [Exchange(
            id=f"{self.file}:{lineno}",
            method=method,
            url=f"https://{host}{path}{query}",
            # To the second only: a token is asked for before the requests it authorises,
            # so it goes at the start of its second, ahead of the registry's lines in it.
            started_at=when + self.in_second * 1e-6,
            request_headers=headers,
            status=status,
            client=str(data.get("client") or ""),
            request_body_preview=body,
            token_claims={"access": granted} if isinstance(granted, list) else None,
        )]

    def finish(self) -> list[Exchange]:
        return []
