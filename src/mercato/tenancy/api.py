"""The caller's organization and its domains; the public store descriptor."""

from __future__ import annotations

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mercato.core.auth import require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.principal import Principal
from mercato.core.uow import DbSession, MercatoRoute, uow_of
from mercato.tenancy import service
from mercato.tenancy.deps import current_store
from mercato.tenancy.models import Organization, OrganizationDomain
from mercato.tenancy.schemas import (
    DnsProof,
    DomainIn,
    DomainOut,
    DomainVerification,
    HttpProof,
    OrganizationOut,
    OrganizationUpdate,
    StoreOut,
)
from mercato.tenancy.store import Store
from mercato.tenancy.verification import (
    DomainProof,
    Verifier,
    dns_name,
    http_path,
    run_verifier,
)

VERIFY_TIMEOUT_SECONDS = 30.0
"""The most a verification request waits; the default verifier's own timeouts end sooner."""

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["organization"])
store_router = APIRouter(prefix="/store/v1", route_class=MercatoRoute, tags=["storefront"])


def domain_out(row: OrganizationDomain) -> DomainOut:
    return DomainOut(
        id=row.id, domain=row.domain, verified=row.verified_at is not None,
        verified_at=row.verified_at, verified_by=row.verified_by, created_at=row.created_at,
        verification=DomainVerification(
            dns=DnsProof(name=dns_name(row.domain), value=row.token),
            http=HttpProof(path=http_path(row.token), body=row.token)),
    )


def _out(session: Session, org: Organization) -> OrganizationOut:
    return OrganizationOut(
        id=org.id, slug=org.slug, name=org.name, time_zone=org.time_zone, locale=org.locale,
        currency=org.currency, logo_url=org.logo_url, brand_color=org.brand_color,
        accent_color=org.accent_color, created_at=org.created_at,
        updated_at=org.updated_at,
        domains=[domain_out(d) for d in service.list_domains(session)],
    )


def _forget_domains(request: Request) -> None:
    """Routing follows the change once it is committed (forgetting earlier could let a
    concurrent lookup cache the old answer again)."""
    request.app.state.domains.forget()
    uow_of(request).after_close(request.app.state.domains.forget)


@router.get("/organization", response_model=OrganizationOut)
def get_org(
    response: Response,
    *, principal: Principal = Depends(require("organization:read")),
    session: DbSession,
) -> OrganizationOut:
    org = service.get_organization(session, principal.organization_id)
    set_etag(response, org)
    return _out(session, org)


@router.patch("/organization", response_model=OrganizationOut,
              summary="Rename the organization or change its time zone, locale, currency or "
              "storefront branding (If-Match supported)",
              description="Fields left out stay as they are; `\"\"` clears a branding field. "
              "An unknown time zone, locale or currency, a colour not written `#rrggbb`, or a "
              "logo that is neither an https URL nor a path of the store's media is a 422 "
              "naming the field, and nothing changes.")
def update_org(
    body: OrganizationUpdate,
    request: Request,
    response: Response,
    *, principal: Principal = Depends(require("organization:write")),
    session: DbSession,
) -> OrganizationOut:
    org = service.get_organization(session, principal.organization_id)
    check_if_match(request, org)
    service.update_organization(session, org, name=body.name, time_zone=body.time_zone,
                                locale=body.locale, currency=body.currency,
                                logo_url=body.logo_url, brand_color=body.brand_color,
                                accent_color=body.accent_color)
    request.app.state.stores.forget()
    set_etag(response, org)
    return _out(session, org)


@router.get("/organization/domains", response_model=list[DomainOut])
def list_domains(
    *, _: Principal = Depends(require("organization:read")),
    session: DbSession,
) -> list[DomainOut]:
    return [domain_out(d) for d in service.list_domains(session)]


@router.post("/organization/domains", response_model=DomainOut,
             status_code=status.HTTP_201_CREATED, summary="Claim a custom domain for the store",
             description="The claim answers `verified: false` with its proof: publish the DNS "
             "TXT record or serve the HTTP token, then call `.../verify`. Until then the "
             "domain routes nowhere, and other organizations may claim the same name; only "
             "one claim per name can be verified. The platform's own hosts, IP addresses, "
             "`localhost` and single-label names are refused (422).")
def add_domain(
    body: DomainIn,
    request: Request,
    *, principal: Principal = Depends(require("organization:write")),
    session: DbSession,
) -> DomainOut:
    row = service.add_domain(session, principal.organization_id, body.domain,
                             platform_hosts=request.app.state.settings.platform_hosts)
    session.flush()
    return domain_out(row)


@router.get("/organization/domains/{domain_id}", response_model=DomainOut)
def get_domain(
    domain_id: str,
    *, _: Principal = Depends(require("organization:read")),
    session: DbSession,
) -> DomainOut:
    return domain_out(service.get_domain(session, domain_id))


@router.post("/organization/domains/{domain_id}/verify", response_model=DomainOut,
             summary="Check the domain's proof; once verified it reaches the store",
             description="Looks for the claim's DNS TXT record or HTTP token (the verifier "
             "is `MERCATO_DOMAIN_VERIFIER`). Not found, or the check failed or timed out: "
             "409 with `checks` saying what was looked at. Verified by another organization "
             "already: 409. A verified domain answers as it is.")
async def verify_domain(
    domain_id: str,
    request: Request,
    principal: Principal = Depends(require("organization:write")),
) -> DomainOut:
    # The check waits on DNS and the web: it runs with no transaction open (on SQLite an open
    # write transaction would hold every other writer), and the result is written after.
    uow = uow_of(request)
    await run_in_threadpool(uow.release)
    claim = await run_in_threadpool(service.read_claim, request.app.state.db,
                                    principal.organization_id, domain_id)
    proof = DomainProof(False)
    if not claim.verified and not claim.held_elsewhere:
        verifier: Verifier = request.app.state.domain_verifier
        proof = DomainProof(False, checks=(
            f"the check did not finish within {VERIFY_TIMEOUT_SECONDS:g} s",))
        with anyio.move_on_after(VERIFY_TIMEOUT_SECONDS):  # a verifier that never answers
            proof = await anyio.to_thread.run_sync(run_verifier, verifier, claim.domain,
                                                   claim.token, abandon_on_cancel=True)

    def record() -> DomainOut:
        uow.run_deferred()
        row = service.record_proof(uow.session, domain_id, claim, proof)
        uow.session.flush()
        return domain_out(row)

    out = await run_in_threadpool(record)
    _forget_domains(request)
    return out


@router.delete("/organization/domains/{domain_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_domain(
    domain_id: str,
    request: Request,
    *, _: Principal = Depends(require("organization:write")),
    session: DbSession,
) -> Response:
    service.remove_domain(session, domain_id)
    _forget_domains(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@store_router.get("/{store}", response_model=StoreOut, summary="The store's public descriptor")
def get_store(found: Store = Depends(current_store)) -> StoreOut:
    return StoreOut(slug=found.slug, name=found.name)
