"""What can go wrong in a pull, as exceptions a user can act on.

    PullError                  every failure of `pulltrace pull`; str() is the one-line message
    ├── AuthError              wrong password, token service refused, credentials helper failed
    │   └── AccessDenied       a valid login without the scope (or anonymous on a private repo)
    ├── NotFound               unknown repository or tag, missing blob
    ├── PlatformError          the index has no image for the requested platform
    ├── ManifestUnsupported    schema1 or an unknown media type
    ├── DigestMismatch         bytes whose sha256 differs from the digest they were fetched by
    ├── RegistryError          any other error status from a registry
    └── ConnectionFailed       DNS, refused connection, TLS failure, timeouts after retries
        └── TLSFailure
"""

from __future__ import annotations


class PullError(Exception):
    """A pull failed; the message is one line saying what happened and what to do."""


class AuthError(PullError):
    pass


class AccessDenied(AuthError):
    pass


class NotFound(PullError):
    pass


class PlatformError(PullError):
    pass


class ManifestUnsupported(PullError):
    pass


class DigestMismatch(PullError):
    pass


class RegistryError(PullError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ConnectionFailed(PullError):
    def __init__(self, message: str, connect: bool = False) -> None:
        super().__init__(message)
        # True when no connection was made at all (DNS, refused): retried less.
        self.connect = connect


class TLSFailure(ConnectionFailed):
    pass
