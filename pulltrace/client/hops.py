"""Where a registry may send the client: which redirects and token realms are followed.

A registry names other URLs the client then requests on its own — a `Location` (the CDN of
a blob) and the `realm` of a Bearer challenge (the token service, which gets the user's
password). A hostile or compromised registry can use them to make the client speak
plain HTTP, read a cloud metadata service (the SSRF that leaks instance credentials) or
use another scheme. Refused, each in one line:

- a scheme other than http and https;
- a link-local address (169.254.0.0/16, fe80::/10) or a cloud metadata address or name;
- plain HTTP after HTTPS (the realm would get the password in clear, the CDN could be
  rewritten on the way).

Both of the latter are allowed for a host the user named with `--insecure-registry`. The
address a name resolves to is checked again when the connection is made (`refuse_peer`), so
a name that resolves to a metadata address is refused too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import httpx

from pulltrace.client.errors import UnsafeHop

LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle
    "fd00:ec2::254",    # AWS IMDS over IPv6
    "100.100.100.200",  # Alibaba Cloud
))
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata.azure.internal"})

IsInsecure = Callable[[str], bool]


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:169.254.169.254 is the IPv4 address
    return ip


def address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip in METADATA_ADDRESSES:
        return f"a cloud metadata address ({ip})"
    if any(ip in net for net in LINK_LOCAL):
        return f"a link-local address ({ip})"
    return None


def hostport(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def shown_url(url: httpx.URL) -> str:
    """scheme://host[:port]/path, without the query (it may carry a signature), cut short."""
    text = f"{url.scheme}://{hostport(url)}{url.path}"
    return text if len(text) <= 200 else text[:199] + "…"


def check_hop(origin: httpx.URL, target: httpx.URL, how: str, is_insecure: IsInsecure) -> None:
    """Raise UnsafeHop when `origin` (a registry answer) may not send the client to `target`.

    `how` says what named the target: "redirect" or "token realm".
    """
    where = f"refusing the {how} from {hostport(origin)} to {shown_url(target)}"
    if target.scheme not in ("http", "https"):
        raise UnsafeHop(f"{where}: a registry may only send a client to http(s) URLs")
    host = target.host.lower().rstrip(".")
    if is_insecure(hostport(target)):
        return
    ip = _address(host)
    problem = address_problem(ip) if ip is not None else (
        f"a cloud metadata host ({host})" if host in METADATA_NAMES else None)
    if problem:
        raise UnsafeHop(f"{where}: it points at {problem}, which no registry needs; "
                        "the registry or a proxy on the way is hostile")
    if origin.scheme == "https" and target.scheme == "http":
        raise UnsafeHop(f"{where}: it leaves HTTPS for plain HTTP; if {hostport(target)} is a test server, "
                        f"allow it with --insecure-registry {hostport(target)}")


def refuse_peer(target: httpx.URL, server_addr: object, how: str, is_insecure: IsInsecure) -> None:
    """The same check on the address a realm or redirect host resolved to, at connect time."""
    if not isinstance(server_addr, tuple) or not server_addr or is_insecure(hostport(target)):
        return
    ip = _address(str(server_addr[0]))
    problem = address_problem(ip) if ip is not None else None
    if problem:
        raise UnsafeHop(f"refusing the {how} to {shown_url(target)}: {hostport(target)} resolves to {problem}, "
                        "which no registry needs; the registry or its DNS is hostile")
