"""TLS trust the way docker's daemon builds it: the system store, plus CAs the user names."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path

from pulltrace.client.errors import PullError


def ssl_context(ca_certs: Sequence[Path] = ()) -> ssl.SSLContext:
    """The system CA store (honouring SSL_CERT_FILE/SSL_CERT_DIR) plus each `--ca-cert` file.

    httpx alone would trust only certifi's bundle and miss CAs installed on the machine —
    the ones `docker pull` trusts.
    """
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    except (ImportError, OSError):  # the system store is enough
        pass
    for path in ca_certs:
        try:
            context.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as e:
            raise PullError(f"cannot use --ca-cert {path}: {e}; give a PEM file of CA certificates") from None
    return context
