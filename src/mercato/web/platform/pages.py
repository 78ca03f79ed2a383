"""The operator's pages: sign-in, the organizations list with its create form, and an
organization's plan and limits.

The session is an operator page token (``identity.operators``, its own key and type) in an
HttpOnly cookie scoped to ``/platform``; every page confirms the operator is still active and
not signed out since (sign-out ends every session of the operator). Forms carry a CSRF token
bound to the session; the sign-in form's is a cookie of its own path.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from mercato.core.db import set_tenant
from mercato.core.errors import MercatoError, NotFound, RateLimited, Unauthorized
from mercato.core.keys import derive_key
from mercato.core.pagination import PageParams
from mercato.core.uow import MercatoRoute, uow_of
from mercato.identity import (
    Operator,
    confirm_operator,
    issue_operator_token,
    sign_out_operator,
    verify_operator,
)
from mercato.identity import OperatorLimits as Limits
from mercato.identity import PlatformOrganizationCreate as OrganizationCreate
from mercato.identity.deps import client_of
from mercato.identity.service import Identity
from mercato.tenancy import (
    LIMIT_KEYS,
    get_organization,
    list_organizations,
    reactivate,
    set_plan,
    suspend,
)
from mercato.web.session import cookie_secure, new_login_csrf
from mercato.web.templating import errors_of, form_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
COOKIE = "mercato_operator"
LOGIN_CSRF_COOKIE = "mercato_operator_login_csrf"
HOME = "/platform"
LOGIN = "/platform/login"
LIMIT_LABELS = {"products": "Products", "staff": "Staff members",
                "api_calls_per_minute": "API calls per minute"}


def _csrf(request: Request, cookie: str) -> str:
    key = derive_key(request.app.state.settings.require_secret_key(), "operator-csrf")
    return hmac.new(key, hashlib.sha256(cookie.encode()).digest(),
                    hashlib.sha256).hexdigest()[:40]


def _operator(request: Request, session: Session, csrf_token: str | None = None
              ) -> Operator | None:
    """The signed-in operator (confirmed in the database), or None; on a form post, only
    with this session's CSRF token."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    identity: Identity = request.app.state.identity
    try:
        operator = verify_operator(identity.operator_web_signer, cookie)
        confirm_operator(session, operator)
    except Unauthorized:
        return None
    if csrf_token is not None and not hmac.compare_digest(csrf_token, _csrf(request, cookie)):
        return None
    return operator


def _login_page(request: Request, *, status: int = 200, email: str = "",
                errors: list[dict[str, str]] | None = None) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    listed = errors or []
    response = render(request, "platform/login.html", {
        "login_csrf": token, "values": {"email": email},
        "errors": {e["field"]: e["message"] for e in listed if e["field"]},
        "error_list": listed}, status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path=LOGIN, httponly=True, samesite="lax",
                        secure=cookie_secure(request))
    return response


@router.get(LOGIN, response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    if _operator(request, uow_of(request).session) is not None:
        return redirect(HOME)
    return _login_page(request)


@router.post(LOGIN, response_class=HTMLResponse)
def login(request: Request, email: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "",
          csrf_token: Annotated[str, Form()] = "") -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_page(request, status=403, email=email, errors=[
            {"field": "", "message": "The sign-in form expired; enter your email and password "
                                     "again."}])
    missing = [{"field": name, "message": f"Enter your {name}."}
               for name, value in (("email", email), ("password", password)) if not value]
    if missing:
        return _login_page(request, status=422, email=email, errors=missing)
    identity: Identity = request.app.state.identity
    try:
        operator_id = identity.check_operator_password(email=email, password=password,
                                                       client=client_of(request))
    except (Unauthorized, RateLimited) as exc:
        refused = _login_page(request, status=exc.status, email=email,
                              errors=[{"field": "", "message": exc.detail}])
        refused.headers.update(exc.headers)
        return refused
    token, seconds = issue_operator_token(identity.operator_web_signer, uow_of(request).session,
                                     operator_id)
    response = redirect(HOME)
    response.set_cookie(COOKIE, token, max_age=seconds, path=HOME, httponly=True,
                        samesite="lax", secure=cookie_secure(request))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN)
    return response


@router.post("/platform/logout", response_class=HTMLResponse)
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    session = uow_of(request).session
    operator = _operator(request, session, csrf_token)
    if operator is not None:
        sign_out_operator(session, operator)
    response = redirect(LOGIN, flash="You are signed out.")
    response.delete_cookie(COOKIE, path=HOME)
    return response


def _limits_of(form: dict[str, str]) -> dict[str, str | None]:
    """The limits fields for the API's schema (which reads the numbers): empty is
    unlimited."""
    return {key: form.get(key, "").strip() or None for key in LIMIT_KEYS}


def _home(request: Request, session: Session, operator: Operator, *, cursor: str | None = None,
          status: int = 200, errors: list[dict[str, Any]] | None = None,
          values: dict[str, Any] | None = None) -> HTMLResponse:
    page = list_organizations(session, PageParams(limit=50, cursor=cursor))
    by_field, listed = form_errors(list(errors or []))
    cookie = request.cookies.get(COOKIE, "")
    return render(request, "platform/index.html", {
        "operator": operator, "organizations": page.items, "next_cursor": page.next_cursor,
        "csrf_token": _csrf(request, cookie), "limit_labels": LIMIT_LABELS,
        "errors": by_field, "error_list": listed, "values": values or {}}, status=status)


@router.get(HOME, response_class=HTMLResponse)
def home(request: Request, cursor: str | None = None) -> Response:
    session = uow_of(request).session
    operator = _operator(request, session)
    if operator is None:
        return redirect(LOGIN)
    return _home(request, session, operator, cursor=cursor)


@router.post("/platform/organizations", response_class=HTMLResponse)
async def create(request: Request) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await _in_thread(request, lambda session: _create(request, session, form))


def _create(request: Request, session: Session, form: dict[str, str]) -> Response:
    operator = _operator(request, session, form.get("csrf_token", ""))
    if operator is None:
        return redirect(LOGIN)
    values = {k: form.get(k, "") for k in ("name", "slug", "owner_email", "plan")}
    try:
        limits = Limits.model_validate(_limits_of(form))
        body = OrganizationCreate.model_validate({
            **{k: v for k, v in values.items() if k != "plan"},
            "owner_password": form.get("owner_password", ""),
            "plan": values["plan"].strip() or None, "limits": limits.model_dump()})
        identity: Identity = request.app.state.identity
        org, _ = identity.create_organization(
            session, name=body.name, slug=body.slug, owner_email=body.owner_email,
            owner_password=body.owner_password, plan=body.plan, limits=limits.stored())
    except (ValidationError, MercatoError) as exc:
        return _home(request, session, operator, status=getattr(exc, "status", 422),
                     errors=errors_of(exc), values={**values, **{
                         k: form.get(k, "") for k in LIMIT_KEYS}})
    return redirect(HOME, flash=f"Organization {org.name} created.")


async def _in_thread(request: Request, work: Any) -> Response:
    from starlette.concurrency import run_in_threadpool

    uow = uow_of(request)

    def run() -> Response:
        uow.run_deferred()
        result: Response = work(uow.session)
        return result

    return await run_in_threadpool(run)


def _changed(request: Request, organization_id: str) -> None:
    request.app.state.org_gate.forget(organization_id)
    request.app.state.stores.forget()
    uow_of(request).after_close(lambda: request.app.state.org_gate.forget(organization_id))


@router.get("/platform/organizations/{organization_id}", response_class=HTMLResponse)
def organization_page(request: Request, organization_id: str) -> Response:
    session = uow_of(request).session
    operator = _operator(request, session)
    if operator is None:
        return redirect(LOGIN)
    org = get_organization(session, organization_id)
    return _org_page(request, org, operator)


def _org_page(request: Request, org: Any, operator: Operator, *, status: int = 200,
              errors: list[dict[str, Any]] | None = None,
              values: dict[str, Any] | None = None) -> HTMLResponse:
    by_field, listed = form_errors(list(errors or []))
    return render(request, "platform/organization.html", {
        "operator": operator, "org": org, "limit_labels": LIMIT_LABELS,
        "csrf_token": _csrf(request, request.cookies.get(COOKIE, "")),
        "errors": by_field, "error_list": listed,
        "values": values or {"plan": org.plan, **{k: org.limits.get(k, "")
                                                  for k in LIMIT_KEYS}}}, status=status)


@router.post("/platform/organizations/{organization_id}", response_class=HTMLResponse)
async def update(request: Request, organization_id: str) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    return await _in_thread(request, lambda session: _update(request, session,
                                                             organization_id, form))


def _update(request: Request, session: Session, organization_id: str,
            form: dict[str, str]) -> Response:
    operator = _operator(request, session, form.get("csrf_token", ""))
    if operator is None:
        return redirect(LOGIN)
    org = get_organization(session, organization_id)
    set_tenant(session, org.id)
    try:
        limits = Limits.model_validate(_limits_of(form))
        set_plan(session, org, plan=form.get("plan", ""), limits=limits.stored())
    except (ValidationError, MercatoError) as exc:  # nothing was changed
        return _org_page(request, org, operator, status=422, errors=errors_of(exc),
                         values={k: form.get(k, "") for k in ("plan", *LIMIT_KEYS)})
    _changed(request, org.id)
    return redirect(f"/platform/organizations/{org.id}", flash="Plan and limits saved.")


@router.post("/platform/organizations/{organization_id}/{action}",
             response_class=HTMLResponse)
def status_action(request: Request, organization_id: str, action: str,
                  csrf_token: Annotated[str, Form()] = "",
                  reason: Annotated[str, Form()] = "",
                  back: Annotated[str, Form()] = "") -> Response:
    session = uow_of(request).session
    operator = _operator(request, session, csrf_token)
    if operator is None:
        return redirect(LOGIN)
    if action not in ("suspend", "reactivate"):
        raise NotFound("There is no page at this address.")
    org = get_organization(session, organization_id)
    set_tenant(session, org.id)
    if action == "suspend":
        suspend(session, org, reason[:500] or None)
        message = f"{org.name} is suspended."
    else:
        reactivate(session, org)
        message = f"{org.name} is active again."
    _changed(request, org.id)
    target = f"/platform/organizations/{org.id}" if back == "organization" else HOME
    return redirect(target, flash=message)
