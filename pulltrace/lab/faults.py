"""What the fault hosts answer: the values nginx is configured with and tests check against.

Each fault host is nginx in front of hub's registry (same images, same token service), so
only the fault differs from a healthy Docker Hub pull:

- quota.:       Docker Hub's quota headers on manifest responses, budget left.
- ratelimit.:   the budget is spent: manifest GETs answer 429 TOOMANYREQUESTS.
- expired.:     blobs 307 to a presigned S3-style URL on expired-cdn., which refuses it.
- loop.:        blobs 307 to loop-cdn., which 307s back to the same blob URL.
"""

from __future__ import annotations

# Docker Hub's anonymous quota: 100 manifest GETs per 6 h (RFC draft "RateLimit" header
# fields, `;w=` the window in seconds). HEAD requests are not counted.
RATE_WINDOW_S = 21600
RATE_LIMIT = f"100;w={RATE_WINDOW_S}"
QUOTA_REMAINING = 76


def remaining(pulls: int) -> str:
    """A `RateLimit-Remaining` value: `76;w=21600`."""
    return f"{pulls};w={RATE_WINDOW_S}"


# A Retry-After longer than clients wait for (pulltrace's client waits up to 60 s, then
# gives up), so the refusal is final, as a spent 6 h window is.
RETRY_AFTER = 3600
TOO_MANY_REQUESTS_MESSAGE = (
    "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading"
)


def too_many_requests_body() -> str:
    """Docker Hub's 429 body: the distribution error envelope with code TOOMANYREQUESTS."""
    return f'{{"errors":[{{"code":"TOOMANYREQUESTS","message":"{TOO_MANY_REQUESTS_MESSAGE}","detail":null}}]}}'


# A presigned S3 URL (ECR's and many registries' storage redirect) whose lifetime ended
# long ago: X-Amz-Date + X-Amz-Expires is 2023-11-14T22:33:20Z.
EXPIRED_AT = "2023-11-14T22:33:20Z"
EXPIRED_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAPULLTRACELAB0000%2F20231114%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20231114T221320Z&X-Amz-Expires=1200&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=6c1b5e0f3a7d9e2b4c8a1f0d5e3b7a9c2d4f6e8a0b1c3d5e7f9a2b4c6d8e0f1a"
)
EXPIRED_CODE = "AccessDenied"
EXPIRED_MESSAGE = "Request has expired"


def expired_body() -> str:
    """S3's refusal of an expired presigned URL (one line after the XML declaration)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{EXPIRED_CODE}</Code><Message>{EXPIRED_MESSAGE}</Message>"
        f"<X-Amz-Expires>1200</X-Amz-Expires><Expires>{EXPIRED_AT}</Expires>"
        "<ServerTime>$time_iso8601</ServerTime><RequestId>$request_id</RequestId></Error>"
    )
