"""Signing in and out of the admin, and an invited member's first password."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from mercato.core.errors import MercatoError, RateLimited, Unauthorized, ValidationFailed
from mercato.core.uow import MercatoRoute, uow_of
from mercato.identity.deps import client_of
from mercato.identity.service import Identity
from mercato.web.session import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    StaffSession,
    check_csrf,
    cookie_secure,
    new_login_csrf,
    optional_staff,
)
from mercato.web.templating import errors_of, form_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Only a path of the admin or the POS (which signs in here): never another host
    (``//evil``) nor a scheme."""
    if (not value or not value.startswith(("/admin", "/pos")) or value.startswith("//")
            or "\\" in value):
        return "/admin"
    return value


def _login_page(request: Request, *, next_path: str, status: int = 200,
                errors: list[dict[str, str]] | None = None, email: str = "",
                organization: str = "", ask_organization: bool = False) -> HTMLResponse:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    listed = errors or []
    response = render(request, "admin/login.html", {
        "next": next_path, "login_csrf": token, "ask_organization": ask_organization,
        "values": {"email": email, "organization": organization},
        "errors": {e["field"]: e["message"] for e in listed if e["field"]},
        "error_list": listed}, status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path="/admin/login", httponly=True,
                        samesite="lax", secure=cookie_secure(request))
    return response


@router.get("/admin/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None,
                     staff: StaffSession | None = Depends(optional_staff)) -> Response:
    if staff is not None:
        return redirect(safe_next(next))
    return _login_page(request, next_path=safe_next(next))


@router.post("/admin/login", response_class=HTMLResponse)
def login(request: Request, email: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "", organization: Annotated[str, Form()] = "",
          csrf_token: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/admin") -> Response:
    next_path = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_page(request, next_path=next_path, status=403, email=email, errors=[
            {"field": "", "message": "The sign-in form expired; enter your email and password "
                                     "again."}])
    missing = [{"field": name, "message": f"Enter your {name}."}
               for name, value in (("email", email), ("password", password)) if not value]
    if missing:
        return _login_page(request, next_path=next_path, status=422, email=email,
                           errors=missing)
    identity: Identity = request.app.state.identity
    try:
        staff_id, organization_id = identity.check_staff_password(
            email=email, password=password, organization=organization.strip() or None,
            client=client_of(request))
    except ValidationFailed as exc:
        return _login_page(request, next_path=next_path, status=422, email=email,
                           organization=organization, ask_organization=True,
                           errors=[{"field": "organization", "message": exc.detail}])
    except (Unauthorized, RateLimited) as exc:
        refused = _login_page(request, next_path=next_path, status=exc.status, email=email,
                              organization=organization, ask_organization=bool(organization),
                              errors=[{"field": "", "message": exc.detail}])
        refused.headers.update(exc.headers)
        return refused
    cookie, _ = identity.start_web_session(uow_of(request).session, staff_id, organization_id)
    response = redirect(next_path)
    response.set_cookie(COOKIE, cookie, path="/", httponly=True, samesite="lax",
                        secure=cookie_secure(request))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/admin/login")
    return response


@router.post("/admin/logout", response_class=HTMLResponse)
async def logout(request: Request,
                 staff: StaffSession | None = Depends(optional_staff)) -> Response:
    if staff is not None:
        await check_csrf(request, staff.csrf_token)
        identity: Identity = request.app.state.identity
        session = uow_of(request).session
        await run_in_threadpool(identity.end_web_session, session, request.cookies[COOKIE])
    response = redirect("/admin/login", flash="You are signed out.")
    response.delete_cookie(COOKIE, path="/")
    return response



INVITE_PATH = "/admin/accept-invite"
INVITE_CSRF_COOKIE = "mercato_invite_csrf"


def _invite_page(request: Request, *, token: str, status: int = 200,
                 errors: list[dict[str, str]] | None = None) -> HTMLResponse:
    """The form an invited member opens from the link the owner sent: the token (hidden when
    the link carries it), a new password. Its CSRF token is a cookie of its own path, as the
    sign-in form's is: the member has no session yet."""
    csrf = request.cookies.get(INVITE_CSRF_COOKIE) or new_login_csrf()
    by_field, listed = form_errors(list(errors or []))
    response = render(request, "admin/accept_invite.html", {
        "token": token, "invite_csrf": csrf, "errors": by_field, "error_list": listed},
        status=status)
    response.set_cookie(INVITE_CSRF_COOKIE, csrf, path=INVITE_PATH, httponly=True,
                        samesite="lax", secure=cookie_secure(request))
    return response


@router.get(INVITE_PATH, response_class=HTMLResponse)
async def accept_invite_form(request: Request, token: str = "") -> Response:
    return _invite_page(request, token=token[:200])


@router.post(INVITE_PATH, response_class=HTMLResponse)
def accept_invite(request: Request, token: Annotated[str, Form()] = "",
                  password: Annotated[str, Form()] = "",
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    """``POST /api/v1/auth/accept-invite`` from the form; then the member is signed in."""
    token = token.strip()[:200]
    expected = request.cookies.get(INVITE_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _invite_page(request, token=token, status=403, errors=[
            {"field": "", "message": "The form expired; open the invitation link again."}])
    missing = [{"field": name, "message": message} for name, value, message in (
        ("token", token, "Enter the invitation token you were sent."),
        ("password", password, "Choose a password.")) if not value]
    if missing:
        return _invite_page(request, token=token, status=422, errors=missing)
    identity: Identity = request.app.state.identity
    session = uow_of(request).session
    try:
        user = identity.accept_invite(session, token=token, password=password[:256])
        session.flush()
    except MercatoError as exc:
        return _invite_page(request, token=token, status=exc.status, errors=errors_of(exc))
    cookie, _ = identity.start_web_session(session, user.id, user.organization_id)
    response = redirect("/admin", flash="Your password is set. Welcome to Mercato.")
    response.set_cookie(COOKIE, cookie, path="/", httponly=True, samesite="lax",
                        secure=cookie_secure(request))
    response.delete_cookie(INVITE_CSRF_COOKIE, path=INVITE_PATH)
    return response
