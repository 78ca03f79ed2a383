"""The admin's settings: the organization and its custom domains (``/admin/settings``), and
the index of the settings' other pages (staff, API keys, ... in ``settings_*`` modules).

Same services and permissions as ``tenancy.api``: reading needs ``organization:read``,
renaming and the domains' changes ``organization:write``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from mercato import tenancy
from mercato.core.errors import MercatoError
from mercato.core.uow import DbSession, MercatoRoute, uow_of
from mercato.tenancy.schemas import DomainIn, OrganizationUpdate
from mercato.tenancy.service import update_organization as update_organization_settings
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import errors_of as base_errors_of
from mercato.web.templating import form_errors, formats_of, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)

VERIFY_TIMEOUT_SECONDS = 30.0
"""As the API: the most a verification waits on DNS and the web."""

SECTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("Staff and roles", "/admin/settings/staff", "staff:read",
     "Members, their roles, invitations and deactivation."),
    ("API keys", "/admin/settings/api-keys", "api_keys:read",
     "Keys for integrations; the secret is shown once."),
    ("Locations", "/admin/settings/locations", "inventory:read",
     "Stores and warehouses that hold stock."),
    ("Tax rates", "/admin/settings/tax-rates", "checkout:read",
     "Rates by country and region."),
    ("Shipping", "/admin/settings/shipping", "checkout:read",
     "Shipping zones and their methods."),
    ("Payment gateways", "/admin/settings/payments", "payments:read",
     "How the store takes payments."),
    ("Price lists and promotions", "/admin/settings/pricing", "pricing:read",
     "Customer-group prices and discount codes."),
    ("Gift cards and store credit", "/admin/settings/gift-cards", "payments:read",
     "Issue and look up gift cards and credit."),
    ("Audit log", "/admin/settings/audit-log", "audit:read",
     "Every change, who made it and when."),
    ("Plugins", "/admin/plugins", "plugins:read",
     "Enable and configure the plugins installed on the server."),
)
"""The settings' pages: the index links to each one the role may open (its permission is the
API's read permission, which the page checks too). A section appears here only once its page
exists (``available``)."""

available: set[str] = set()
"""The hrefs of ``SECTIONS`` whose pages are registered (each ``settings_*`` module adds its
own), so the index never links to a page that is not there."""


def _form_field(field: str) -> str:
    """An error's field as the form names it: a list is one input (``countries``, not
    ``countries.0``), so the path stops before its first index."""
    parts = []
    for part in field.split("."):
        if part.isdigit():
            break
        parts.append(part)
    return ".".join(parts)


def errors_of(exc: Exception | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A form's errors (``templating.errors_of``) with the fields named as the form names them."""
    found = exc if isinstance(exc, list) else base_errors_of(exc)
    return [{**e, "field": _form_field(str(e.get("field") or ""))} for e in found]


async def posted(request: Request) -> FormData:
    """The submitted form (a dependency: Starlette keeps it, the CSRF check read it too)."""
    return await request.form()


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def optional(form: FormData, name: str) -> str | None:
    """A text input, None when left empty (the API's "not given")."""
    return text(form, name) or None


def flag(form: FormData, name: str) -> bool:
    """A checkbox: sent only when ticked."""
    return bool(text(form, name))


def words(form: FormData, name: str) -> list[str]:
    """A list typed into one input: separated by commas, spaces or new lines."""
    return [w for w in re.split(r"[\s,]+", text(form, name)) if w]


def when(request: Request, form: FormData, name: str) -> str | None:
    """A date and time typed in the organization's zone (``datetime-local``) as an aware
    ISO time; one typed with its own offset is kept as it is."""
    value = text(form, name)
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value  # the API's model says what is wrong with it
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=formats_of(request).zone)
    return parsed.isoformat()


def local(request: Request, value: dt.datetime | None) -> str:
    """An aware time as a ``datetime-local`` input shows it, in the organization's zone."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(formats_of(request).zone).strftime("%Y-%m-%dT%H:%M")


def raw(form: FormData) -> dict[str, Any]:
    """What was entered, to show it again beside the errors."""
    return {key: value for key, value in form.items()
            if key != "csrf_token" and isinstance(value, str)}


def next_url(path: str, cursor: str | None, **params: str | None) -> str | None:
    if not cursor:
        return None
    query = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode({**query, 'cursor': cursor})}"


def failed(request: Request, template: str, values: Mapping[str, Any],
           exc: Exception | list[dict[str, Any]], *,
           form: Mapping[str, Any], status: int = 422) -> HTMLResponse:
    """The form again with what was entered, each error beside its field and in the summary.
    A refusal that names no field shows in the summary only."""
    errors = errors_of(exc)
    by_field, listed = form_errors(errors)
    if isinstance(exc, MercatoError) and exc.status != 422 and status == 422:
        status = exc.status if exc.status in (403, 404, 409) else 422
    return render(request, template, {**values, "values": dict(form), "errors": by_field,
                                      "error_list": listed}, status=status)


def _domain_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "domain": row.domain, "verified": row.verified_at is not None,
            "verified_at": row.verified_at, "verified_by": row.verified_by,
            "created_at": row.created_at, "dns_name": tenancy.dns_name(row.domain),
            "token": row.token, "http_path": tenancy.http_path(row.token)}


def _index_values(session: Any, staff: StaffSession) -> dict[str, Any]:
    org = tenancy.get_organization(session, staff.principal.organization_id)
    sections = [{"label": label, "href": href, "hint": hint}
                for label, href, permission, hint in SECTIONS
                if href in available and staff.can(permission)]
    return {"org": org, "domains": [_domain_view(d) for d in tenancy.list_domains(session)],
            "sections": sections, "can_write": staff.can("organization:write")}


@router.get("/admin/settings", response_class=HTMLResponse)
def settings_index(request: Request, session: DbSession,
                   staff: StaffSession = Depends(staff_page("organization:read"))) -> Response:
    values = _index_values(session, staff)
    org = values["org"]
    return render(request, "admin/settings/index.html", {**values, "values": {
        "name": org.name, "time_zone": org.time_zone, "locale": org.locale,
        "currency": org.currency, "logo_url": org.logo_url or "",
        "brand_color": org.brand_color or "", "accent_color": org.accent_color or ""}})


@router.post("/admin/settings/organization", response_class=HTMLResponse)
def update_organization(
        request: Request, session: DbSession, form: Annotated[FormData, Depends(posted)],
        staff: StaffSession = Depends(staff_page("organization:write"))) -> Response:
    """The name, time zone, locale, default currency and the storefront's branding (an empty
    branding field goes back to the default), as ``PATCH /api/v1/organization`` changes them
    (all valid or nothing changes)."""
    entered = {name: str(form.get(name) or "")
               for name in ("name", "time_zone", "locale", "currency", "logo_url",
                            "brand_color", "accent_color")}
    try:
        body = OrganizationUpdate.model_validate(entered)
        org = tenancy.get_organization(session, staff.principal.organization_id)
        update_organization_settings(session, org, name=body.name, time_zone=body.time_zone,
                                     locale=body.locale, currency=body.currency,
                                     logo_url=body.logo_url, brand_color=body.brand_color,
                                     accent_color=body.accent_color)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        return failed(request, "admin/settings/index.html", _index_values(session, staff),
                      exc, form=entered)
    request.app.state.stores.forget()
    return redirect("/admin/settings", flash="The organization's settings are saved.")


def _forget_domains(request: Request) -> None:
    request.app.state.domains.forget()
    uow_of(request).after_close(request.app.state.domains.forget)


@router.post("/admin/settings/domains", response_class=HTMLResponse)
def claim_domain(request: Request, session: DbSession, domain: Annotated[str, Form()] = "",
                 staff: StaffSession = Depends(staff_page("organization:write"))) -> Response:
    try:
        body = DomainIn.model_validate({"domain": domain})
        row = tenancy.add_domain(session, staff.principal.organization_id, body.domain,
                                 platform_hosts=request.app.state.settings.platform_hosts)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        values = _index_values(session, staff)
        return failed(request, "admin/settings/index.html", values, exc,
                      form={"name": values["org"].name, "time_zone": values["org"].time_zone,
                            "locale": values["org"].locale, "currency": values["org"].currency,
                            "domain": domain})
    return redirect(f"/admin/settings/domains/{row.id}",
                    flash=f"{row.domain} is claimed: publish its proof, then verify it.")


@router.get("/admin/settings/domains/{domain_id}", response_class=HTMLResponse)
def domain_page(request: Request, domain_id: str, session: DbSession,
                staff: StaffSession = Depends(staff_page("organization:read"))) -> Response:
    row = tenancy.get_domain(session, domain_id)
    return render(request, "admin/settings/domain.html", {
        "domain": _domain_view(row), "can_write": staff.can("organization:write")})


@router.post("/admin/settings/domains/{domain_id}/verify", response_class=HTMLResponse)
async def verify_domain(request: Request, domain_id: str,
                        staff: StaffSession = Depends(staff_page("organization:write",
                                                                 now=True))) -> Response:
    # As the API: the check waits on DNS and the web with no transaction open.
    uow = uow_of(request)
    organization_id = staff.principal.organization_id
    await run_in_threadpool(uow.release)
    claim = await run_in_threadpool(tenancy.read_claim, request.app.state.db,
                                    organization_id, domain_id)
    proof = tenancy.DomainProof(False)
    if not claim.verified and not claim.held_elsewhere:
        proof = tenancy.DomainProof(False, checks=(
            f"the check did not finish within {VERIFY_TIMEOUT_SECONDS:g} s",))
        with anyio.move_on_after(VERIFY_TIMEOUT_SECONDS):
            proof = await anyio.to_thread.run_sync(
                tenancy.run_verifier, request.app.state.domain_verifier, claim.domain,
                claim.token, abandon_on_cancel=True)

    def record() -> Response:
        uow.run_deferred()
        try:
            row = tenancy.record_proof(uow.session, domain_id, claim, proof)
            uow.session.flush()
        except MercatoError as exc:
            uow.session.rollback()
            row = tenancy.get_domain(uow.session, domain_id)
            return render(request, "admin/settings/domain.html", {
                "domain": _domain_view(row), "can_write": True,
                "error_list": [{"field": "", "message": exc.detail}]}, status=exc.status)
        return redirect(f"/admin/settings/domains/{domain_id}",
                        flash=f"{row.domain} is verified: it now reaches the store.")

    answer = await run_in_threadpool(record)
    if answer.status_code == 303:
        _forget_domains(request)
    return answer


@router.post("/admin/settings/domains/{domain_id}/remove", response_class=HTMLResponse)
def remove_domain(request: Request, domain_id: str, session: DbSession,
                  staff: StaffSession = Depends(staff_page("organization:write"))) -> Response:
    row = tenancy.remove_domain(session, domain_id)
    _forget_domains(request)
    return redirect("/admin/settings", flash=f"{row.domain} is removed.")
