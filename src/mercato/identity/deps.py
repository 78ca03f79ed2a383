"""Request helpers shared by the staff and the storefront routes of identity."""

from __future__ import annotations

from fastapi import Request

from mercato.identity.service import Identity


async def identity(request: Request) -> Identity:
    return request.app.state.identity  # type: ignore[no-any-return]


def client_of(request: Request) -> str:
    """The caller's address, which sign-in failures are counted against: the connection's, or
    the one a trusted proxy reports (``core.proxies``), never a header from anyone else."""
    return request.client.host if request.client else "unknown"
