"""What can go wrong in a pull, as exceptions a user can act on.

    UserError (pulltrace.errors)
    └── PullError                  every failure of `pulltrace pull`; str() is the one-line message
        ├── AuthError              wrong password, token service refused, credentials helper failed
        │   └── AccessDenied       a valid login without the scope (or anonymous on a private repo)
        ├── NotFound               unknown repository or tag, missing blob
        ├── PlatformError          the index has no image for the requested platform
        ├── ManifestUnsupported    schema1 or an unknown media type
        │   └── ManifestInvalid    a manifest breaking the image spec: bad digest, size or type
        ├── DigestMismatch         bytes whose hash differs from the digest they were fetched by
        ├── RegistryError          any other error status from a registry
        │   ├── ResponseTooLarge   a manifest, token or error body over its cap
        │   └── UnsafeHop          a redirect or token realm pulltrace will not follow
        └── ConnectionFailed       DNS, refused connection, TLS failure, timeouts after retries
            └── TLSFailure
"""

from __future__ import annotations

from pulltrace.errors import UserError


class PullError(UserError):
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


class ManifestInvalid(ManifestUnsupported):
    pass


class DigestMismatch(PullError):
    pass


class RegistryError(PullError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ResponseTooLarge(RegistryError):
    pass


class UnsafeHop(RegistryError):
    pass


class ConnectionFailed(PullError):
    def __init__(self, message: str, connect: bool = False) -> None:
        super().__init__(message)
        # True when no connection was made at all (DNS, refused): retried less.
        self.connect = connect


class TLSFailure(ConnectionFailed):
    pass
