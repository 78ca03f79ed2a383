"""Where Mercato may send a request on a merchant's behalf (webhook endpoints, workflow and
plugin calls): never into the platform's own network unless the operator allows the host.

A merchant types the URL, so a URL on a private, loopback, link-local or otherwise reserved
address (or a name that resolves to one) could reach the metadata service or an internal admin
port. ``check_url`` refuses those at configuration time; ``resolve_allowed`` is asked again
just before each call, since a name may resolve elsewhere later (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from mercato.core.errors import ValidationFailed

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class EgressRefused(ValidationFailed):
    """The target is not one Mercato may call."""


def _bare(host: str) -> str:
    return host.strip().lower().strip("[]").rstrip(".")


def is_internal(address: Address) -> bool:
    """Private, loopback, link-local, multicast, unspecified or reserved (IPv4-mapped too)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_private or address.is_loopback or address.is_link_local
            or address.is_multicast or address.is_unspecified or address.is_reserved
            or not address.is_global)


def _addresses(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise EgressRefused(f"{host!r} does not resolve: {exc}",
                            errors=[{"field": "url", "message": "host does not resolve"}]
                            ) from None
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url(url: str, allow_hosts: Iterable[str] = (), *, field: str = "url",
              resolve: bool = True) -> str:
    """The URL, normalised, if Mercato may call it; ``EgressRefused`` (422) naming why if not.

    Only http and https with a host. A host in ``allow_hosts`` (``MERCATO_WEBHOOK_ALLOW_HOSTS``)
    may be internal; any other is refused when it is, or resolves to, an internal address.
    With ``resolve=False`` only literal addresses are checked (no DNS lookup).
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise EgressRefused("not a valid URL", errors=[{"field": field,
                                                        "message": "not a valid URL"}]) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefused("an http or https URL with a host is required",
                            errors=[{"field": field, "message": "must be an http(s) URL"}])
    if parts.username or parts.password:
        raise EgressRefused("credentials in the URL are not allowed",
                            errors=[{"field": field, "message": "no user:password@ in URLs"}])
    host = _bare(parts.hostname)
    allowed = {_bare(h) for h in allow_hosts}
    if host in allowed:
        return url.strip()
    if not resolve:
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = []
        if host == "localhost" or host.endswith(".localhost"):
            addresses.append(ipaddress.ip_address("127.0.0.1"))
    else:
        addresses = _addresses(host, port or (443 if parts.scheme == "https" else 80))
    for address in addresses:
        if is_internal(address):
            raise EgressRefused(
                f"{host} is a private, loopback or link-local address; the operator may allow "
                "it with MERCATO_WEBHOOK_ALLOW_HOSTS",
                errors=[{"field": field, "message": "internal addresses are not allowed"}])
    return url.strip()
