"""Is UPSTREAM a registry, and does it answer? Asked once, before a mirror starts.

A mirror in front of a URL that is not a registry would fail every pull with a 404 later,
far from the mistake; one `GET /v2/` says it at once (distribution spec: a registry answers
200 or 401, with `Docker-Distribution-API-Version: registry/2.0` or a challenge).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pulltrace.errors import UserError

PROBE_TIMEOUT_S = 15.0


def is_registry_answer(status: int, headers: dict[str, str]) -> bool:
    """A `/v2/` answer only a registry gives: 200/401 with the API version header, or 401 with a challenge."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if status not in (200, 401):
        return False
    if lowered.get("docker-distribution-api-version", "").lower().startswith("registry/2"):
        return True
    challenge = lowered.get("www-authenticate", "").lower()
    return status == 401 and challenge.startswith(("bearer", "basic"))


def probe_registry(url: str, ca_bundle: Path, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Raise a one-line UserError unless `url`/v2/ answers like a registry."""
    import httpx

    context = ssl.create_default_context(cafile=str(ca_bundle))
    try:
        with httpx.Client(verify=context, timeout=timeout, follow_redirects=False, trust_env=False) as client:
            resp = client.get(url.rstrip("/") + "/v2/")
    except httpx.ConnectError as e:
        text = str(e)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            raise UserError(f"{url}: its certificate is not trusted by this machine ({text}); "
                            f"pass --ca-cert FILE with its CA") from None
        raise UserError(f"{url} does not answer: {text or 'connection failed'}") from None
    except httpx.TimeoutException:
        raise UserError(f"{url} does not answer: no reply within {timeout:.0f} s") from None
    except httpx.HTTPError as e:
        raise UserError(f"{url} does not answer: {e}") from None
    if not is_registry_answer(resp.status_code, dict(resp.headers)):
        raise UserError(f"{url} is not a registry: GET /v2/ answered {resp.status_code} without "
                        f"Docker-Distribution-API-Version or a Bearer/Basic challenge")
