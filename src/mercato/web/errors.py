"""Errors on pages are pages: the same exceptions the API renders as problem+json become an
HTML page with the same status (or, without a session, a redirect to sign in)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mercato.core.errors import MercatoError
from mercato.web.session import SignInRequired, login_path
from mercato.web.templating import render

PAGE_PREFIXES = ("/admin", "/s", "/pos", "/platform")
"""Paths answered with pages: their errors are pages too."""
STORE_PREFIX = "/s/"
"""The storefront's pages: their errors show in the store's layout."""

Handler = Callable[[Request, Any], Awaitable[Response] | Response]


def is_page(request: Request) -> bool:
    path = request.url.path
    return any(path == p or path.startswith(p + "/") for p in PAGE_PREFIXES)


def error_page(request: Request, status: int, message: str) -> Response:
    heading = {403: "You cannot open this page", 404: "Page not found",
               422: "Check what you entered",
               423: "This organization is suspended"}.get(status, HTTPStatus(status).phrase)
    if request.url.path.startswith(STORE_PREFIX):  # a shopper's error, in the store's layout
        shop = getattr(request.state, "shop", None)
        return render(request, "store/error.html", {
            "heading": heading, "message": message, "shop": shop,
            "csrf_token": shop.csrf_token if shop else ""}, status=status)
    return render(request, "error.html", {"heading": heading, "message": message},
                  status=status)


def _page_answer(request: Request, exc: Exception) -> Response | None:
    if isinstance(exc, SignInRequired):
        target = login_path(exc.next_path)
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    if isinstance(exc, MercatoError):
        return error_page(request, exc.status, exc.detail)
    if isinstance(exc, RequestValidationError):
        return error_page(request, 422, "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
            for e in exc.errors()) or "The request is invalid.")
    if isinstance(exc, StarletteHTTPException):
        detail = exc.detail if exc.status_code != 404 else "There is no page at this address."
        return error_page(request, exc.status_code, str(detail))
    return None


def _for_pages(handler: Handler) -> Handler:
    async def handle(request: Request, exc: Any) -> Response:
        if is_page(request):
            page = _page_answer(request, exc)
            if page is not None:
                return page
        answer = handler(request, exc)
        return await answer if isinstance(answer, Awaitable) else answer

    return handle


def install_page_errors(app: FastAPI) -> None:
    """Wrap the app's exception handlers (``core.problems``) so that page paths get pages."""
    for exc_class in (MercatoError, RequestValidationError, StarletteHTTPException):
        handler = app.exception_handlers.get(exc_class)
        if handler is not None:
            app.exception_handlers[exc_class] = _for_pages(handler)
