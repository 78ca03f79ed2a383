"""HTTP surface of identity: tokens, me, staff, API keys, audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.concurrency import run_in_threadpool

from mercato.core.auth import get_principal, require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.idempotency import credential_in_body
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute, uow_of
from mercato.identity import audit
from mercato.identity.deps import client_of, identity
from mercato.identity.models import ApiKey, AuditEntry
from mercato.identity.platform.api import router as platform_router
from mercato.identity.schemas import (
    AcceptInvite,
    Actor,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    ApiKeyOwner,
    AuditEntryOut,
    Me,
    OrganizationRef,
    RefreshRequest,
    SignedIn,
    StaffCreate,
    StaffCreated,
    StaffOut,
    StaffUpdate,
    TokenRequest,
)
from mercato.identity.service import Identity, TokenPair
from mercato.identity.tokens import API_KEY_PREFIX
from mercato.tenancy.service import get_organization

__all__ = ["platform_router", "router"]

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute)
BODY_CREDENTIAL = [Depends(credential_in_body)]
"""Sign-in and token routes: the body is the credential an Idempotency-Key is scoped to."""


def _signed_in(pair: TokenPair) -> SignedIn:
    return SignedIn(access_token=pair.access_token, expires_in=pair.expires_in,
                    refresh_token=pair.refresh_token,
                    refresh_token_expires_in=pair.refresh_token_expires_in)


@router.post("/auth/token", response_model=SignedIn, tags=["identity"],
             dependencies=BODY_CREDENTIAL,
             summary="Sign in: email and password for a short-lived access token and a "
                     "refresh token")
async def issue_token(
    body: TokenRequest,
    request: Request,
    ident: Identity = Depends(identity),
) -> SignedIn:
    uow = uow_of(request)
    client = client_of(request)

    def sign_in() -> SignedIn:
        # The password is checked (and the attempt counted, in a transaction of its own)
        # before the request's transaction begins with its deferred work (an Idempotency-Key's
        # claim): on SQLite that transaction holds the write lock the count needs.
        staff_id, organization_id = ident.check_staff_password(
            email=body.email, password=body.password, organization=body.organization,
            client=client)
        uow.run_deferred()
        pair = ident.start_sign_in(uow.session, staff_id, organization_id)
        return _signed_in(pair)

    return await run_in_threadpool(sign_in)


@router.post("/auth/refresh", response_model=SignedIn, tags=["identity"],
             dependencies=BODY_CREDENTIAL,
             summary="Trade a refresh token for a new pair (the old one stops working; "
                     "using it again ends the sign-in)")
def refresh_token(
    body: RefreshRequest,
    request: Request,
    session: DbSession,
    ident: Identity = Depends(identity),
) -> SignedIn:
    uow = uow_of(request)
    pair = ident.refresh(
        session, token=body.refresh_token,
        on_reuse=lambda org, sign_in: uow.after_close(
            lambda: ident.end_sign_in(org, sign_in, "reuse")),
    )
    return _signed_in(pair)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["identity"],
             dependencies=BODY_CREDENTIAL,
             response_class=Response,
             summary="Sign out: end the sign-in of a refresh token, with all its tokens")
def logout(
    body: RefreshRequest,
    session: DbSession,
    ident: Identity = Depends(identity),
) -> Response:
    ident.sign_out(session, token=body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/accept-invite", response_model=StaffOut, tags=["identity"],
             dependencies=BODY_CREDENTIAL,
             summary="Set the password of an invited staff member")
def accept_invite(
    body: AcceptInvite,
    session: DbSession,
    ident: Identity = Depends(identity),
) -> StaffOut:
    return StaffOut.model_validate(
        ident.accept_invite(session, token=body.token, password=body.password))


@router.get("/me", response_model=Me, tags=["identity"], summary="The caller")
def me(
    *, principal: Principal = Depends(get_principal), session: DbSession
) -> Me:
    org = get_organization(session, principal.organization_id)
    return Me(
        type=principal.kind,
        id=principal.id,
        email=principal.label if principal.kind == "staff" else None,
        name=principal.label if principal.kind == "api_key" else None,
        role=principal.role,
        organization=OrganizationRef(id=org.id, slug=org.slug, name=org.name),
        permissions=sorted(principal.permissions),
    )


# -- staff -------------------------------------------------------------------------------------

@router.get("/staff", response_model=Page[StaffOut], tags=["staff"])
def list_staff(
    *, params: PageParams = Depends(page_params),
    _: Principal = Depends(require("staff:read")),
    session: DbSession,
    ident: Identity = Depends(identity),
) -> Page[StaffOut]:
    return ident.list_staff(session, params).to_page(StaffOut)


@router.post("/staff", response_model=StaffCreated, status_code=status.HTTP_201_CREATED,
             tags=["staff"], summary="Add a staff member, with a password or by invitation")
def create_staff(
    body: StaffCreate,
    response: Response,
    *, principal: Principal = Depends(require("staff:write")),
    session: DbSession,
    ident: Identity = Depends(identity),
) -> StaffCreated:
    user, invite_token = ident.create_staff(session, principal, email=body.email,
                                            role=body.role, password=body.password,
                                            invite=body.invite)
    session.flush()
    set_etag(response, user)
    return StaffCreated.model_validate(
        {**StaffOut.model_validate(user).model_dump(), "invite_token": invite_token})


@router.get("/staff/{staff_id}", response_model=StaffOut, tags=["staff"])
def get_staff(
    staff_id: str,
    response: Response,
    *, _: Principal = Depends(require("staff:read")),
    session: DbSession,
    ident: Identity = Depends(identity),
) -> StaffOut:
    user = ident.get_staff(session, staff_id)
    set_etag(response, user)
    return StaffOut.model_validate(user)


@router.patch("/staff/{staff_id}", response_model=StaffOut, tags=["staff"],
              summary="Change role, activation or password (send If-Match)")
def update_staff(
    staff_id: str,
    body: StaffUpdate,
    request: Request,
    response: Response,
    *, principal: Principal = Depends(require("staff:write")),
    session: DbSession,
    ident: Identity = Depends(identity),
) -> StaffOut:
    user = ident.get_staff(session, staff_id)
    check_if_match(request, user)
    ident.update_staff(session, principal, user, role=body.role, is_active=body.is_active,
                       password=body.password)
    session.flush()
    set_etag(response, user)
    return StaffOut.model_validate(user)


# -- API keys ----------------------------------------------------------------------------------

def _key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(id=key.id, name=key.name, prefix=f"{API_KEY_PREFIX}{key.id}",
                     scopes=list(key.scopes), created_by_id=key.created_by_id,
                     created_at=key.created_at, last_used_at=key.last_used_at,
                     revoked_at=key.revoked_at)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED,
             tags=["api-keys"], summary="Create an API key; the secret is in this response only")
def create_api_key(
    body: ApiKeyCreate,
    *, principal: Principal = Depends(require("api_keys:write")),
    session: DbSession,
    ident: Identity = Depends(identity),
) -> ApiKeyCreated:
    key, secret = ident.create_api_key(session, principal, name=body.name, scopes=body.scopes)
    session.flush()
    return ApiKeyCreated(**_key_out(key).model_dump(), key=secret)


@router.get("/api-keys", response_model=Page[ApiKeyOut], tags=["api-keys"])
def list_api_keys(
    *, params: PageParams = Depends(page_params),
    _: Principal = Depends(require("api_keys:read")),
    session: DbSession,
    ident: Identity = Depends(identity),
) -> Page[ApiKeyOut]:
    return ident.list_api_keys(session, params).to_page(ApiKeyOut, _key_out)


@router.get("/api-keys/{api_key_id}", response_model=ApiKeyOut, tags=["api-keys"])
def get_api_key(
    api_key_id: str,
    *, _: Principal = Depends(require("api_keys:read")),
    session: DbSession,
    ident: Identity = Depends(identity),
) -> ApiKeyOut:
    return _key_out(ident.get_api_key(session, api_key_id))


@router.post("/api-keys/{api_key_id}/owner", response_model=ApiKeyOut, tags=["api-keys"],
             summary="Give an API key another owner (owners only)")
def reassign_api_key(
    api_key_id: str,
    body: ApiKeyOwner,
    *, _: Principal = Depends(require("api_keys:reassign")),
    session: DbSession,
    ident: Identity = Depends(identity),
) -> ApiKeyOut:
    """A key acts with at most its owner's current permissions (the intersection of its scopes
    and the owner's role, checked on every request) and stops working (401) once its owner is
    deactivated. Give it to another active member first to keep an integration running; from
    then on the new owner's permissions bound it. Audited like any change."""
    key = ident.reassign_api_key(session, api_key_id, staff_id=body.staff_id)
    session.flush()
    return _key_out(key)


@router.delete("/api-keys/{api_key_id}", response_model=ApiKeyOut, tags=["api-keys"],
               summary="Revoke an API key (it stops working at once)")
def revoke_api_key(
    api_key_id: str,
    *, _: Principal = Depends(require("api_keys:write")),
    session: DbSession,
    ident: Identity = Depends(identity),
) -> ApiKeyOut:
    key = ident.revoke_api_key(session, api_key_id)
    session.flush()
    return _key_out(key)


# -- audit log ---------------------------------------------------------------------------------

def _entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut(
        id=entry.id,
        actor=Actor(type=entry.actor_type, id=entry.actor_id, label=entry.actor_label),
        action=entry.action, resource_type=entry.resource_type, resource_id=entry.resource_id,
        before=entry.before, after=entry.after, request_id=entry.request_id,
        created_at=entry.created_at,
    )


@router.get("/audit-log", response_model=Page[AuditEntryOut], tags=["audit"],
            summary="Every change, newest first")
def audit_log(
    *, params: PageParams = Depends(page_params),
    resource_type: str | None = Query(None, max_length=100),
    resource_id: str | None = Query(None, max_length=100),
    actor_id: str | None = Query(None, max_length=26),
    action: str | None = Query(None, max_length=100),
    _: Principal = Depends(require("audit:read")),
    session: DbSession,
) -> Page[AuditEntryOut]:
    return audit.list_entries(
        session, params, resource_type=resource_type, resource_id=resource_id,
        actor_id=actor_id, action=action,
    ).to_page(AuditEntryOut, _entry_out)


@router.get("/audit-log/{entry_id}", response_model=AuditEntryOut, tags=["audit"])
def audit_entry(
    entry_id: str,
    *, _: Principal = Depends(require("audit:read")),
    session: DbSession,
) -> AuditEntryOut:
    return _entry_out(audit.get_entry(session, entry_id))


from mercato.identity import api_store  # noqa: E402 - after this module's router
from mercato.identity.customers import api as customers_api  # noqa: E402

router.include_router(customers_api.router)

store_router: APIRouter = api_store.store_router
