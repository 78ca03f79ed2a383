"""Staff sessions of the pages: the cookie, CSRF, and the dependency every admin handler uses.

A browser signs in once (``/admin/login``) and holds a server-side session: the cookie carries
only an opaque id and secret of a staff sign-in (``identity``), so signing out, deactivating the
member or changing their role takes effect on the next request. Every unsafe request carries a
CSRF token bound to that sign-in (a form field or htmx's ``X-CSRF-Token`` header).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from mercato.core.db import set_tenant
from mercato.core.errors import Forbidden, MercatoError
from mercato.core.keys import derive_key
from mercato.core.principal import Principal
from mercato.core.uow import SAFE_METHODS, uow_of
from mercato.identity.service import Identity
from mercato.tenancy import OrganizationGate, organization_settings

COOKIE = "mercato_session"
LOGIN_CSRF_COOKIE = "mercato_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(MercatoError):
    """No valid session: the page answers with a redirect to the sign-in page."""

    status = 401
    code = "sign_in_required"

    def __init__(self, next_path: str) -> None:
        super().__init__("Sign in to continue.")
        self.next_path = next_path


class CsrfRefused(MercatoError):
    status = 403
    code = "csrf_failed"


@dataclass
class StaffSession:
    """Who a page acts as, with the CSRF token its forms carry. ``staff_page`` confirms it
    on the endpoint's thread, just before the endpoint runs (``principal`` is known then)."""

    sign_in_id: str
    csrf_token: str
    confirmed: Principal | None = None

    @property
    def principal(self) -> Principal:
        if self.confirmed is None:
            raise RuntimeError("the session is confirmed on the endpoint's thread, before the "
                               "endpoint runs: an async endpoint needs staff_page(now=True)")
        return self.confirmed

    def can(self, permission: str) -> bool:
        return self.principal.can(permission)


@lru_cache(maxsize=8)
def _csrf_key(secret_key: str) -> bytes:
    return derive_key(secret_key, "web-csrf")


def csrf_for(request: Request, sign_in_id: str) -> str:
    key = _csrf_key(request.app.state.settings.require_secret_key())
    return hmac.new(key, sign_in_id.encode(), hashlib.sha256).hexdigest()[:40]


def cookie_secure(request: Request) -> bool:
    """Secure cookies when served over TLS (directly or behind a trusted proxy)."""
    return request.url.scheme == "https"


def login_path(next_path: str) -> str:
    return "/admin/login?next=" + quote(next_path, safe="/")


async def _submitted_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette keeps it: the handler reads the same form
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse an unsafe request whose token is missing or not this session's."""
    if request.method in SAFE_METHODS:
        return
    submitted = await _submitted_token(request)
    if not submitted or not hmac.compare_digest(submitted, expected):
        raise CsrfRefused("This form has expired or did not come from Mercato's pages; "
                          "reload the page and try again.")


def _confirm(request: Request, cookie: str,
             staff: StaffSession | None = None) -> StaffSession | None:
    """Look the cookie's sign-in up (with the organization's settings) in the request's
    session, and scope that session to it; None when it is no (longer a) session. ``staff``,
    made before the lookup (``staff_page``), is the one confirmed when it names this
    sign-in."""
    cached: StaffSession | None = getattr(request.state, "staff_session", None)
    if cached is not None:
        return cached
    identity: Identity = request.app.state.identity
    uow = uow_of(request)
    found = identity.web_session(uow.session, cookie)
    if found is None:
        return None
    principal = found.principal
    gate: OrganizationGate = request.app.state.org_gate  # suspended: 423 page
    gate.check(gate.state(principal.organization_id), principal.organization_id)
    request.state.org_settings = organization_settings(uow.session, principal.organization_id)
    set_tenant(uow.session, principal.organization_id)
    uow.session.info["actor"] = principal
    request.state.principal = principal  # core.auth's cache: an API dependency sees the same
    if found.touch_at is not None:
        when, sign_in = found.touch_at, found.sign_in_id
        uow.after_close(lambda: identity.touch_web_session(principal.organization_id,
                                                           sign_in, when))
    if staff is None or staff.sign_in_id != found.sign_in_id:
        staff = StaffSession(sign_in_id=found.sign_in_id,
                             csrf_token=csrf_for(request, found.sign_in_id))
    staff.confirmed = principal
    request.state.staff_session = staff
    return staff


async def optional_staff(request: Request) -> StaffSession | None:
    """The signed-in member of this browser, or None (looked up now, on the thread pool)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    return await run_in_threadpool(_confirm, request, cookie)


def _sign_in_again(request: Request) -> SignInRequired:
    path = request.url.path
    if request.url.query and request.method in SAFE_METHODS:
        path += "?" + request.url.query
    home = "/pos" if path == "/pos" or path.startswith("/pos/") else "/admin"
    return SignInRequired(path if request.method in SAFE_METHODS else home)


def _check_permissions(staff: StaffSession, permissions: tuple[str, ...]) -> None:
    missing = [p for p in permissions if not staff.can(p)]
    if missing:
        raise Forbidden(f"Your role cannot open this page: it needs {', '.join(missing)}.",
                        extra={"missing_permissions": missing})


def staff_page(*permissions: str,
               now: bool = False) -> Callable[..., Awaitable[StaffSession]]:
    """A page dependency: a signed-in member holding every named permission. Without a
    session the browser is sent to sign in (and back); without a permission, a 403 page;
    an unsafe request without this session's CSRF token, a 403 page too.

    The CSRF token is checked at once (it is bound to the cookie's sign-in id, no lookup
    needed); the session itself is confirmed on the endpoint's thread just before the
    endpoint, as a staff token is (``UnitOfWork.defer``): one trip to the thread pool per
    page, not two. ``now=True`` confirms it here instead, for an ``async`` endpoint."""

    async def dependency(request: Request) -> StaffSession:
        cookie = request.cookies.get(COOKIE, "")
        identity: Identity = request.app.state.identity
        sign_in_id = identity.web_sign_in_id(cookie)
        if sign_in_id is None:
            raise _sign_in_again(request)
        token = csrf_for(request, sign_in_id)
        await check_csrf(request, token)
        if now:
            confirmed = await run_in_threadpool(_confirm, request, cookie)
            if confirmed is None:
                raise _sign_in_again(request)
            _check_permissions(confirmed, permissions)
            return confirmed
        staff = StaffSession(sign_in_id=sign_in_id, csrf_token=token)

        def confirm(_session: object) -> None:
            found = _confirm(request, cookie, staff)
            if found is None or found.sign_in_id != sign_in_id:
                raise _sign_in_again(request)
            staff.confirmed = found.principal
            _check_permissions(staff, permissions)

        uow_of(request).defer(confirm)
        return staff

    dependency.__name__ = "staff_page_" + "_".join(p.replace(":", "_") for p in permissions)
    return dependency


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)
