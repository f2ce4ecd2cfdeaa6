"""Who may do what in the lab: one table, read by the token service and the htpasswd writer.

| user      | password     | may                                   | token lifetime |
|-----------|--------------|---------------------------------------|----------------|
| anonymous | —            | pull `library/*`                      | default (300 s)|
| admin     | admin-pass   | pull, push on every repository        | default        |
| alice     | alice-pass   | pull `team/*` (+ the anonymous grants)| default        |
| brief     | brief-pass   | pull on every repository              | short (4 s)    |

A scope outside the grants is still answered with a token, its `actions` empty — Docker
Hub does the same, and the registry then answers 401 `insufficient_scope`.
"""

from __future__ import annotations

import fnmatch
import hmac
from dataclasses import dataclass

from pulltrace.auth import Scope


@dataclass(frozen=True)
class Grant:
    """Actions allowed on repositories whose name matches `pattern` (fnmatch; `*` spans `/`)."""

    pattern: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class User:
    name: str
    password: str | None
    grants: tuple[Grant, ...]
    short_lived: bool = False


ANONYMOUS_GRANTS = (Grant("library/*", ("pull",)),)

ANONYMOUS = User("", None, ANONYMOUS_GRANTS)

USERS: dict[str, User] = {
    "admin": User("admin", "admin-pass", (Grant("*", ("pull", "push", "delete")),)),
    "alice": User("alice", "alice-pass", (Grant("team/*", ("pull",)),) + ANONYMOUS_GRANTS),
    "brief": User("brief", "brief-pass", (Grant("*", ("pull",)),), short_lived=True),
}

# The account the lab itself pushes with and the mirror fetches upstream with.
ADMIN = USERS["admin"]


def authenticate(name: str, password: str) -> User | None:
    """The user when the password matches, else None. Constant-time compare."""
    user = USERS.get(name)
    if user is None or user.password is None:
        return None
    if not hmac.compare_digest(user.password.encode(), password.encode()):
        return None
    return user


def granted_actions(user: User, scope: Scope) -> list[str]:
    """The requested actions this user may have on this scope, in the order requested.

    `registry:catalog:*` is granted to admin only (the name is literal there, not a repo).
    """
    if scope.type == "registry":
        return list(scope.actions) if user.name == "admin" else []
    if scope.type != "repository":
        return []
    allowed: set[str] = set()
    for grant in user.grants:
        if fnmatch.fnmatchcase(scope.name, grant.pattern):
            allowed.update(grant.actions)
    out: list[str] = []
    for action in scope.actions:
        if action == "*":
            out.extend(a for a in ("pull", "push", "delete") if a in allowed and a not in out)
        elif action in allowed and action not in out:
            out.append(action)
    return out
