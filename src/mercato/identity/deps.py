"""Identity's web side: the FastAPI dependencies and request helpers of the staff and the
storefront routes, and the staff authenticator the kernel calls (``core.auth``)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request, Security
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mercato.core.auth import Authenticator, bearer_scheme
from mercato.core.errors import Unauthorized
from mercato.core.idempotency import credential_scope
from mercato.core.principal import Principal
from mercato.core.uow import uow_of
from mercato.identity import operators
from mercato.identity.customer_auth import confirm_shopper, verify_customer_token
from mercato.identity.operators import Operator
from mercato.identity.service import Identity
from mercato.identity.shoppers import Shopper
from mercato.identity.tokens import API_KEY_PREFIX
from mercato.tenancy import Store
from mercato.tenancy.deps import check_organization, current_store
from mercato.tenancy.service import storefront_url

STORE_PREFIX = "/store/"
AUTH_PREFIX = "/api/v1/auth/"
PLATFORM_PREFIX = "/api/platform/"
"""The operator's routes: their credential is an operator token (``current_operator``)."""
WEBHOOK_PREFIX = "/webhooks/"
"""Platforms' webhooks: some (Shopee, TikTok Shop) sign in ``Authorization``; the route checks
that signature, never a staff token."""


async def identity(request: Request) -> Identity:
    return request.app.state.identity  # type: ignore[no-any-return]


def client_of(request: Request) -> str:
    """The caller's address, which sign-in failures are counted against: the connection's, or
    the one a trusted proxy reports (``core.proxies``), never a header from anyone else."""
    return request.client.host if request.client else "unknown"


def account_link(request: Request, session: Session, store: Store, page: str) -> str | None:
    """Where a mailed link points: the storefront's account page (``/account/<page>``), on
    the store's verified domain or MERCATO_PUBLIC_URL, never on the request's own host
    (``storefront_url``). The API's account routes and the storefront's pages both use it."""
    base = storefront_url(session, slug=store.slug,
                          public_url=request.app.state.settings.public_url,
                          via_host=request.headers.get("host"))
    return f"{base}/account/{page}" if base else None


# -- staff: the authenticator ------------------------------------------------------------------

def staff_authenticator(identity: Identity) -> Authenticator:
    """The app's authenticator (``core.auth``) for staff tokens and API keys."""

    async def authenticate(request: Request) -> Principal | None:
        """Staff tokens are checked here without I/O; the database confirms the member is
        still active in that role on the endpoint's thread (deferred). API keys need a
        lookup."""
        header = request.headers.get("authorization")
        path = request.url.path
        if not header or path.startswith((STORE_PREFIX, AUTH_PREFIX, WEBHOOK_PREFIX,
                                          PLATFORM_PREFIX)):
            return None  # shoppers sign in with customer tokens (current_customer)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Use 'Authorization: Bearer <token>'.")
        uow = uow_of(request)
        if token.startswith(API_KEY_PREFIX):
            principal = await run_in_threadpool(
                lambda: identity.authenticate_key(uow.session, token, uow.after_close))
        else:
            principal, sign_in = identity.verify_staff_token(token)
            uow.defer(lambda session: identity.confirm_staff(session, principal, sign_in))
        # suspended by the platform operator: 423; past the plan's calls per minute: 429
        await check_organization(request, principal.organization_id, count_call=True)
        return principal

    return authenticate


# -- platform operators: operator tokens ------------------------------------------------------

OPERATOR_TOKEN = bearer_scheme("OperatorToken", bearer_format="JWT", description=(
    "A platform operator's token from `POST /api/platform/v1/auth/token`; `/api/platform/v1` "
    "only (no `/api/v1` or `/store/v1` route accepts it)."))


async def current_operator(request: Request,
                           _token: Any = Security(OPERATOR_TOKEN)) -> Operator:
    """The platform operator whose token the request carries (401 for anything else: a staff
    token, an API key, a customer token). Still active and signed in: checked on the
    endpoint's thread (deferred)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use 'Authorization: Bearer <operator token>'.")
    identity: Identity = request.app.state.identity
    operator = operators.verify(identity.operator_signer, token.strip())
    uow_of(request).defer(lambda session: operators.confirm(session, operator))
    credential_scope(request, "operator", operator.id)  # their Idempotency-Keys
    return operator


# -- shoppers: customer tokens -----------------------------------------------------------------

SHOPPER_SCHEME = (
    "A customer (shopper) token from `POST /store/v1/{store}/auth/token`; that store's "
    "`/store/v1` routes only.")
CUSTOMER_TOKEN = bearer_scheme("CustomerToken", description=SHOPPER_SCHEME)
OPTIONAL_CUSTOMER_TOKEN = bearer_scheme("CustomerToken", optional=True,
                                        description=SHOPPER_SCHEME)


async def optional_customer(request: Request,
                            store: Store = Depends(current_store),
                            _token: Any = Security(OPTIONAL_CUSTOMER_TOKEN)) -> Shopper | None:
    """The shopper whose customer token the request carries, or None without one. A token of
    another store, a staff token, or one issued before the password changed is a 401."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    identity: Identity = request.app.state.identity
    shopper, epoch = verify_customer_token(
        identity, token.strip() if scheme.lower() == "bearer" else None, store.organization_id)
    uow_of(request).defer(lambda session: confirm_shopper(session, shopper, epoch))
    credential_scope(request, "customer", shopper.account_id)  # their Idempotency-Keys
    return shopper


async def current_customer(shopper: Shopper | None = Depends(optional_customer),
                           _token: Any = Security(CUSTOMER_TOKEN)) -> Shopper:
    if shopper is None:
        raise Unauthorized("Sign in as a customer first.")
    return shopper
