"""The client's address and scheme behind a reverse proxy, believed only from trusted proxies.

A proxy reports the address it was reached from in ``X-Forwarded-For`` and the scheme in
``X-Forwarded-Proto``. Anyone can send those headers, so they are believed only when the peer
is one of ``MERCATO_TRUSTED_PROXIES`` (default: none, not even loopback). Then the request's
client is the right-most address in ``X-Forwarded-For`` that is not a trusted proxy (the left
part is whatever the client itself sent), and its scheme the proxy's ``X-Forwarded-Proto``.

The app applies this itself, whatever server runs it; ``SERVER_OPTIONS`` turns uvicorn's own
handling off (it believes any loopback peer by default), so it cannot act first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

SERVER_OPTIONS: dict[str, Any] = {"proxy_headers": False}
"""What ``mercato serve`` (and the tests' live server) pass to uvicorn."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The networks of MERCATO_TRUSTED_PROXIES."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str):
            return False
        try:
            address = ipaddress.ip_address(host.strip().strip("[]"))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def forwarded_client(self, forwarded_for: str) -> str | None:
        """The client's address from a trusted proxy's ``X-Forwarded-For`` (None: nothing
        usable). Each proxy appends the address it was reached from: reading from the right,
        the first address that is not one of ours is the client's."""
        hops = [_bare(hop) for hop in forwarded_for.split(",")]
        hops = [hop for hop in hops if hop]
        for hop in reversed(hops):
            if hop not in self:
                return hop if _is_ip(hop) else None
        return hops[0] if hops else None  # every hop is a proxy of ours: the first one


def _bare(hop: str) -> str:
    """``203.0.113.7:5000`` and ``[2001:db8::1]:5000`` -> the address alone."""
    hop = hop.strip()
    if hop.startswith("["):
        return hop[1:hop.find("]")] if "]" in hop else hop
    if hop.count(":") == 1:  # IPv4 with a port; a bare IPv6 address has several colons
        return hop.split(":", 1)[0]
    return hop


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


class TrustedProxyMiddleware:
    """Rewrites the scope's client and scheme from a trusted proxy's headers; leaves every
    other request as the connection made it."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer and peer[0] in self.proxies:
                scope = self._forwarded(scope)
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope) -> Scope:
        forwarded_for: list[str] = []
        proto = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for.append(value.decode("latin-1"))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1")
        changed: dict[str, Any] = {}
        if forwarded_for:
            client = self.proxies.forwarded_client(",".join(forwarded_for))
            if client is not None:
                changed["client"] = (client, 0)
        if proto is not None:
            # the proxy nearest us wrote the last value
            scheme = proto.rsplit(",", 1)[-1].strip().lower()
            if scheme in ("http", "https"):
                changed["scheme"] = scheme if scope["type"] == "http" else \
                    {"http": "ws", "https": "wss"}[scheme]
        return {**scope, **changed} if changed else scope
