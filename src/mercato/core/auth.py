"""Who is calling: the principal every ``/api/v1`` route acts as, and permission checks.

Identity (``mercato.identity``) supplies the authenticator; core only knows the shape of a
principal, so the kernel stays free of identity's tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from fastapi import Depends, Request

from mercato.core.db import set_tenant
from mercato.core.errors import Forbidden, Unauthorized
from mercato.core.uow import uow_of


@dataclass(frozen=True)
class Principal:
    """An authenticated caller inside exactly one organization."""

    kind: Literal["staff", "api_key"]
    id: str
    organization_id: str
    label: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    role: str | None = None

    def can(self, permission: str) -> bool:
        return permission in self.permissions


class Authenticator(Protocol):
    """Turns the request's credential into a principal, or None when there is none.

    It may do I/O on the thread pool, or defer its database checks to the unit of work (see
    ``UnitOfWork.defer``) so that they run on the endpoint's thread.
    """

    async def __call__(self, request: Request) -> Principal | None: ...


_UNRESOLVED = object()


async def get_optional_principal(request: Request) -> Principal | None:
    """Resolve the bearer credential once per request and scope the session to its tenant."""
    cached = getattr(request.state, "principal", _UNRESOLVED)
    if cached is not _UNRESOLVED:
        return cached  # type: ignore[return-value]
    authenticate: Authenticator = request.app.state.authenticator
    principal = await authenticate(request)
    request.state.principal = principal
    if principal is not None:
        session = uow_of(request).session  # not begun yet: no I/O here
        set_tenant(session, principal.organization_id)
        session.info["actor"] = principal
    return principal


async def get_principal(
    principal: Principal | None = Depends(get_optional_principal),
) -> Principal:
    if principal is None:
        raise Unauthorized()
    return principal


def require(*permissions: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits callers holding every named permission (403 otherwise)."""

    async def dependency(principal: Principal = Depends(get_principal)) -> Principal:
        missing = [p for p in permissions if not principal.can(p)]
        if missing:
            raise Forbidden(
                f"This action needs the permission(s): {', '.join(missing)}.",
                extra={"missing_permissions": missing},
            )
        return principal

    dependency.__name__ = f"require_{'_'.join(p.replace(':', '_') for p in permissions)}"
    return dependency
