"""The caller's organization and its domains; the public store descriptor."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.orm import Session

from mercato.core.auth import Principal, require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.uow import MercatoRoute, get_session
from mercato.tenancy import service
from mercato.tenancy.models import Organization
from mercato.tenancy.schemas import (
    DomainIn,
    DomainOut,
    OrganizationOut,
    OrganizationUpdate,
    StoreOut,
)
from mercato.tenancy.store import Store, current_store

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["organization"])
store_router = APIRouter(prefix="/store/v1", route_class=MercatoRoute, tags=["storefront"])


def _out(session: Session, org: Organization) -> OrganizationOut:
    return OrganizationOut(
        id=org.id, slug=org.slug, name=org.name, created_at=org.created_at,
        updated_at=org.updated_at,
        domains=[DomainOut.model_validate(d) for d in service.list_domains(session)],
    )


@router.get("/organization", response_model=OrganizationOut)
def get_org(
    response: Response,
    principal: Principal = Depends(require("organization:read")),
    session: Session = Depends(get_session),
) -> OrganizationOut:
    org = service.get_organization(session, principal.organization_id)
    set_etag(response, org)
    return _out(session, org)


@router.patch("/organization", response_model=OrganizationOut)
def update_org(
    body: OrganizationUpdate,
    request: Request,
    response: Response,
    principal: Principal = Depends(require("organization:write")),
    session: Session = Depends(get_session),
) -> OrganizationOut:
    org = service.get_organization(session, principal.organization_id)
    check_if_match(request, org)
    org.name = body.name.strip()
    session.flush()
    request.app.state.stores.forget()
    set_etag(response, org)
    return _out(session, org)


@router.get("/organization/domains", response_model=list[DomainOut])
def list_domains(
    _: Principal = Depends(require("organization:read")),
    session: Session = Depends(get_session),
) -> list[DomainOut]:
    return [DomainOut.model_validate(d) for d in service.list_domains(session)]


@router.post("/organization/domains", response_model=DomainOut,
             status_code=status.HTTP_201_CREATED, summary="Map a custom domain to the store")
def add_domain(
    body: DomainIn,
    request: Request,
    principal: Principal = Depends(require("organization:write")),
    session: Session = Depends(get_session),
) -> DomainOut:
    row = service.add_domain(session, principal.organization_id, body.domain)
    session.flush()
    request.app.state.domains.forget()
    return DomainOut.model_validate(row)


@router.delete("/organization/domains/{domain_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_domain(
    domain_id: str,
    request: Request,
    _: Principal = Depends(require("organization:write")),
    session: Session = Depends(get_session),
) -> Response:
    service.remove_domain(session, domain_id)
    request.app.state.domains.forget()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@store_router.get("/{store}", response_model=StoreOut, summary="The store's public descriptor")
def get_store(found: Store = Depends(current_store)) -> StoreOut:
    return StoreOut(slug=found.slug, name=found.name)
