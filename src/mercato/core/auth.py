"""Who is calling: the principal every ``/api/v1`` route acts as, and permission checks.

Identity (``mercato.identity``) supplies the authenticator; core only knows the shape of a
principal (``mercato.core.principal``, plain Python), so the kernel stays free of identity's
tables. This module is the web side: FastAPI dependencies.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from mercato.core.db import set_tenant
from mercato.core.errors import Forbidden, Unauthorized
from mercato.core.principal import Principal
from mercato.core.unit_of_work import uow_of


class Authenticator(Protocol):
    """Turns the request's credential into a principal, or None when there is none.

    It may do I/O on the thread pool, or defer its database checks to the unit of work (see
    ``UnitOfWork.defer``) so that they run on the endpoint's thread.
    """

    async def __call__(self, request: Request) -> Principal | None: ...


OPTIONAL_SCHEME = ".optional"
"""Suffix of a scheme name that marks a credential the operation also works without;
``core.docs`` rewrites such requirements to ``[{}, {scheme: []}]`` for the OpenAPI document."""


def bearer_scheme(name: str, *, description: str, bearer_format: str | None = None,
                  optional: bool = False) -> HTTPBearer:
    """A bearer credential as the OpenAPI document names it (``components.securitySchemes``).

    A dependency on it puts the scheme in its operations' ``security``; at run time it reads
    the Authorization header and never refuses (authentication does that, once, elsewhere).
    """
    return HTTPBearer(scheme_name=name + (OPTIONAL_SCHEME if optional else ""),
                      bearerFormat=bearer_format, description=description, auto_error=False)


STAFF_TOKEN = bearer_scheme("StaffToken", bearer_format="JWT", description=(
    "A staff access token from `POST /api/v1/auth/token`; `/api/v1` only."))
API_KEY = bearer_scheme("ApiKey", bearer_format="mk_<id>_<secret>", description=(
    "An API key from `POST /api/v1/api-keys`, sent as a bearer token; `/api/v1` only."))

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
    _staff_token: Any = Security(STAFF_TOKEN),
    _api_key: Any = Security(API_KEY),
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
