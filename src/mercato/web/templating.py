"""One Jinja2 environment for every page: autoescaped, with the shared layout and macros.

A handler renders a whole page, or, for an htmx request, one named block of the same template
(``render(..., block="rows")``): one template, no copies of its fragments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from pydantic import ValidationError

from mercato.core.errors import MercatoError
from mercato.tenancy import OrgSettings
from mercato.web.assets import ASSETS
from mercato.web.session import StaffSession

HERE = Path(__file__).resolve().parent
FLASH_COOKIE = "mercato_flash"

env = Environment(
    loader=FileSystemLoader([HERE / "templates", HERE / "admin" / "templates",
                             HERE / "store" / "templates", HERE / "pos" / "templates",
                             HERE / "platform" / "templates"]),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    # Templates ship with the code: no stat of every template on every page (restart to edit).
    auto_reload=False,
)


class Formats:
    """Money and dates in the organization's locale, currency and time zone (babel).

    A page formats hundreds of amounts: the locale and its patterns are parsed once per
    organization's settings (``formats_for``), and each (currency, amount) is formatted once."""

    def __init__(self, locale: str = "en", currency: str = "USD", time_zone: str = "UTC"):
        self.locale = locale
        self.currency = currency
        self.zone = ZoneInfo(time_zone)
        self._locale = Locale.parse(locale)
        self._money_pattern = self._locale.currency_formats["standard"]
        self._number_pattern = self._locale.decimal_formats[None]
        self.money_of = lru_cache(maxsize=4096)(self._money)
        self.number = lru_cache(maxsize=4096)(self._number)  # type: ignore[method-assign]

    def _money(self, amount: str, currency: str) -> str:
        return str(self._money_pattern.apply(Decimal(amount), self._locale, currency=currency,
                                             currency_digits=True))

    def money(self, amount: Decimal | str | float | None, currency: str | None = None) -> str:
        if amount is None or amount == "":
            return ""
        return self.money_of(str(amount), currency or self.currency)

    def _number(self, value: Decimal | int | float | None) -> str:
        return "" if value is None else str(self._number_pattern.apply(value, self._locale))

    def number(self, value: Decimal | int | float | None) -> str:
        return self._number(value)

    def datetime(self, value: dt.datetime | None) -> str:
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return format_datetime(value, "medium", tzinfo=self.zone, locale=self._locale)

    def date(self, value: dt.date | None) -> str:
        return "" if value is None else format_date(value, "medium", locale=self._locale)


@lru_cache(maxsize=256)
def formats_for(locale: str, currency: str, time_zone: str) -> Formats:
    """One ``Formats`` per distinct settings, shared by every request (it holds no state of a
    request)."""
    return Formats(locale, currency, time_zone)


NAV: tuple[tuple[str, str, str], ...] = (
    ("Dashboard", "/admin", "reports:read"),
    ("Products", "/admin/products", "catalog:read"),
    ("Imports", "/admin/imports", "catalog:write"),
    ("Inventory", "/admin/inventory", "inventory:read"),
    ("Orders", "/admin/orders", "orders:read"),
    ("Customers", "/admin/customers", "customers:read"),
    ("Channels", "/admin/channels", "channels:read"),
    ("Workflows", "/admin/workflows", "workflows:read"),
    ("Settings", "/admin/settings", "organization:read"),
)
"""The admin's navigation: each entry shows only to a role holding its permission (and every
handler checks the same permission)."""


def formats_of(request: Request) -> Formats:
    """The signed-in organization's formats (read with the session), else the defaults."""
    found: Formats | None = getattr(request.state, "formats", None)
    if found is None:
        org: OrgSettings | None = getattr(request.state, "org_settings", None)
        found = formats_for(*((org.locale, org.currency, org.time_zone) if org
                              else ("en", "USD", "UTC")))
        request.state.formats = found
    return found


def context_of(request: Request, values: Mapping[str, Any]) -> dict[str, Any]:
    staff: StaffSession | None = getattr(request.state, "staff_session", None)
    flash = request.cookies.get(FLASH_COOKIE)
    path = request.url.path
    nav = [] if staff is None else [
        {"label": label, "href": href,
         "current": path in (href, href) or (href != "/admin" and path.startswith(href + "/"))}
        for label, href, permission in NAV if staff.can(permission)]
    return {"request": request, "staff": staff, "nav": nav, "path": path,
            "csrf_token": staff.csrf_token if staff else "",
            "flash": unquote(flash) if flash else None, "fmt": formats_of(request),
            "errors": {}, "error_list": [], "values": {}, **values}


def render(request: Request, name: str, values: Mapping[str, Any] | None = None, *,
           status: int = 200, block: str | None = None) -> HTMLResponse:
    """The page, or only ``block`` of it when htmx asks (``HX-Request``) for a fragment."""
    template = env.get_template(name)
    context = context_of(request, values or {})
    # the shared macros, bound to this page's context, for a block rendered alone as well
    context["ui"] = env.get_template("macros.html").make_module(context)
    if block is not None and request.headers.get("hx-request") and not request.headers.get(
            "hx-boosted"):
        body = "".join(template.blocks[block](template.new_context(context)))
    else:
        body = template.render(context)
    response = HTMLResponse(body, status_code=status)
    if context["flash"]:
        response.delete_cookie(FLASH_COOKIE, path="/")
    response.headers["Cache-Control"] = "no-store"
    return response


def redirect(url: str, *, flash: str | None = None) -> RedirectResponse:
    """POST-redirect-GET, with a one-time message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(FLASH_COOKIE, quote(flash), max_age=60, path="/", httponly=True,
                            samesite="lax")
    return response


def form_errors(errors: list[dict[str, Any]]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Field errors as a page shows them: by field (beside it) and in order (the summary)."""
    by_field: dict[str, str] = {}
    listed: list[dict[str, str]] = []
    for error in errors:
        field = str(error.get("field") or "")
        message = str(error.get("message") or "is invalid")
        by_field.setdefault(field, message)
        listed.append({"field": field, "message": message})
    return by_field, listed


def errors_of(exc: Exception) -> list[dict[str, Any]]:
    """A schema's (Pydantic) or a service's (``MercatoError``) refusal as ``{field, message}``,
    in the API's field names; any other exception is raised again."""
    if isinstance(exc, ValidationError):
        return pydantic_errors(exc)
    if isinstance(exc, MercatoError):
        return [dict(e) for e in exc.errors] or [{"field": "", "message": exc.detail}]
    raise exc


def pydantic_errors(exc: Any) -> list[dict[str, Any]]:
    """A Pydantic ``ValidationError``'s errors as ``{field, message}``."""
    out = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
        out.append({"field": ".".join(loc), "message": str(error.get("msg", "is invalid"))
                    .removeprefix("Value error, ")})
    return out


def badge_html(text: str, tone: str = "neutral") -> Markup:
    """A status as a worded badge (colour is never the only signal); a function rather than a
    macro because a list shows one per row."""
    return Markup(f'<span class="badge badge-{escape(tone)}">{escape(text)}</span>')  # noqa: S704


env.globals["asset"] = ASSETS.url
env.globals["badge_html"] = badge_html
