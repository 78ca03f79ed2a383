"""Who is calling: the principal every ``/api/v1`` route acts as, and permission checks.

Identity (``mercato.identity``) supplies the authenticator; core only knows the shape of a
principal, so the kernel stays free of identity's tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from mercato.core.db import set_tenant
from mercato.core.errors import Forbidden, Unauthorized
from mercato.core.uow import get_session


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
    def __call__(self, session: Session, request: Request) -> Principal | None: ...


def get_optional_principal(
    request: Request, session: Session = Depends(get_session)
) -> Principal | None:
    """Resolve the bearer credential once per request and scope the session to its tenant.

    Plain ``def``: it reads the database, so FastAPI runs it on the thread pool. The checks
    built on it are ``async``: they only inspect the principal, and a thread hop costs more.
    """
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    authenticate: Authenticator = request.app.state.authenticator
    principal = authenticate(session, request)
    if principal is not None:
        request.state.principal = principal
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
