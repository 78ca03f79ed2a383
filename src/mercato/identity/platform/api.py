"""``/api/platform/v1``: the platform operator's routes (operator tokens only)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mercato.core.db import set_tenant
from mercato.core.idempotency import credential_in_body
from mercato.core.pagination import Page, PageParams
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute, uow_of
from mercato.identity import operators
from mercato.identity.deps import client_of, current_operator, identity
from mercato.identity.operators import Operator
from mercato.identity.platform.schemas import (
    OperatorOut,
    OperatorTokenRequest,
    OrganizationCreate,
    OrganizationPatch,
    OwnerOut,
    PlatformOrganizationCreated,
    PlatformOrganizationOut,
    SuspendRequest,
)
from mercato.identity.schemas import TokenResponse
from mercato.identity.service import Identity
from mercato.tenancy import (
    Organization,
    get_organization,
    list_organizations,
    reactivate,
    set_plan,
    suspend,
)
from mercato.tenancy.service import update_organization

router = APIRouter(prefix="/api/platform/v1", route_class=MercatoRoute, tags=["platform"])


def _changed(request: Request, organization_id: str) -> None:
    """This process follows a change at once (others within the gate's few seconds)."""
    request.app.state.org_gate.forget(organization_id)
    request.app.state.stores.forget()
    uow_of(request).after_close(lambda: request.app.state.org_gate.forget(organization_id))


def organization_for_change(session: Session, organization_id: str) -> Organization:
    """The organization (404), with the session scoped to it: its audit log records the
    operator's change."""
    org = get_organization(session, organization_id)
    set_tenant(session, org.id)
    return org


@router.post("/auth/token", response_model=TokenResponse,
             dependencies=[Depends(credential_in_body)],
             summary="Sign in as a platform operator: email and password for an operator token",
             description="Counted against the same attempt limits as a staff sign-in (429 "
             "with Retry-After past them). The token opens `/api/platform/v1` only.")
async def operator_token(body: OperatorTokenRequest, request: Request,
                         ident: Identity = Depends(identity)) -> TokenResponse:
    uow = uow_of(request)
    client = client_of(request)

    def sign_in() -> TokenResponse:
        operator_id = ident.check_operator_password(email=body.email, password=body.password,
                                                    client=client)
        uow.run_deferred()
        token, expires_in = operators.issue(ident.operator_signer, uow.session, operator_id)
        return TokenResponse(access_token=token, expires_in=expires_in)

    return await run_in_threadpool(sign_in)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
             summary="Sign out: every token and page session of this operator ends")
def operator_logout(operator: Operator = Depends(current_operator), *,
                    session: DbSession) -> Response:
    operators.sign_out(session, operator)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=OperatorOut, summary="The signed-in operator")
def operator_me(operator: Operator = Depends(current_operator), *,
                session: DbSession) -> OperatorOut:
    return OperatorOut(id=operator.id, email=operator.email)


@router.get("/organizations", response_model=Page[PlatformOrganizationOut],
            summary="Every organization on the platform, newest first")
def list_orgs(
    *, params: PageParams = Depends(page_params),
    status_: Literal["active", "suspended"] | None = Query(
        None, alias="status", description="Only organizations in this status."),
    _: Operator = Depends(current_operator),
    session: DbSession,
) -> Page[PlatformOrganizationOut]:
    return list_organizations(session, params, status_).to_page(PlatformOrganizationOut)


@router.post("/organizations", response_model=PlatformOrganizationCreated,
             status_code=status.HTTP_201_CREATED,
             summary="Create an organization with its owner",
             description="The owner signs in at `POST /api/v1/auth/token` with the email and "
             "password given. A taken slug is a 409; a bad slug, email or password a 422; "
             "either way nothing is created.")
def create_org(
    body: OrganizationCreate,
    *, _: Operator = Depends(current_operator),
    session: DbSession,
    ident: Identity = Depends(identity),
) -> PlatformOrganizationCreated:
    org, owner = ident.create_organization(
        session, name=body.name, slug=body.slug, owner_email=body.owner_email,
        owner_password=body.owner_password, plan=body.plan,
        limits=body.limits.stored() if body.limits else None)
    out = PlatformOrganizationOut.model_validate(org).model_dump()
    return PlatformOrganizationCreated(**out, owner=OwnerOut(id=owner.id, email=owner.email))


@router.get("/organizations/{organization_id}", response_model=PlatformOrganizationOut)
def get_org(organization_id: str, *, _: Operator = Depends(current_operator),
            session: DbSession) -> PlatformOrganizationOut:
    return PlatformOrganizationOut.model_validate(get_organization(session, organization_id))


@router.patch("/organizations/{organization_id}", response_model=PlatformOrganizationOut,
              summary="Set an organization's plan, limits, name or branding",
              description="Fields left out stay as they are; `limits` replaces the limits "
              "whole (`{}`: unlimited). Lowering a limit below what the organization holds "
              "removes nothing: it only stops it adding more.")
def patch_org(
    organization_id: str,
    body: OrganizationPatch,
    request: Request,
    *, _: Operator = Depends(current_operator),
    session: DbSession,
) -> PlatformOrganizationOut:
    org = organization_for_change(session, organization_id)
    update_organization(session, org, name=body.name, logo_url=body.logo_url,
                        brand_color=body.brand_color, accent_color=body.accent_color)
    set_plan(session, org, plan=body.plan,
             limits=body.limits.stored() if body.limits is not None else None)
    _changed(request, org.id)
    return PlatformOrganizationOut.model_validate(org)


@router.post("/organizations/{organization_id}/suspend", response_model=PlatformOrganizationOut,
             summary="Suspend an organization",
             description="Its `/api/v1`, `/store/v1`, inbound webhooks and pages answer 423 "
             "`organization_suspended`, it issues no tokens and its background work waits; "
             "its data is untouched. Suspending again updates the reason.")
def suspend_org(
    organization_id: str,
    request: Request,
    body: SuspendRequest | None = None,
    *, _: Operator = Depends(current_operator),
    session: DbSession,
) -> PlatformOrganizationOut:
    org = organization_for_change(session, organization_id)
    suspend(session, org, body.reason if body else None)
    _changed(request, org.id)
    return PlatformOrganizationOut.model_validate(org)


@router.post("/organizations/{organization_id}/reactivate",
             response_model=PlatformOrganizationOut,
             summary="Reactivate a suspended organization: everything answers as before, and "
                     "its waiting background work runs")
def reactivate_org(
    organization_id: str,
    request: Request,
    *, _: Operator = Depends(current_operator),
    session: DbSession,
) -> PlatformOrganizationOut:
    org = organization_for_change(session, organization_id)
    reactivate(session, org)
    _changed(request, org.id)
    return PlatformOrganizationOut.model_validate(org)
