"""The API's documentation: ``/docs`` (Swagger UI) and ``/redoc`` with their assets served by
Mercato (vendored in ``mercato/static/vendor``, never a CDN, so they work offline), and the
OpenAPI document's security schemes.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from mercato.core.auth import OPTIONAL_SCHEME

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PATH = "/static"
SWAGGER_UI = f"{STATIC_PATH}/vendor/swagger-ui-dist-5.35.0"
REDOC = f"{STATIC_PATH}/vendor/redoc-2.5.4"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


class VendoredFiles(StaticFiles):
    """A file's path names its package's version, so its content never changes there."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def _page_csp(html: str, *, workers: bool = False) -> str:
    """The page's own scripts, and its inline ones by hash: nothing else runs. Styles may be
    inline (ReDoc writes its own ``<style>`` elements); images only its own or data URIs."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html))
    return ("default-src 'none'; "
            f"script-src 'self'{' ' + hashes if hashes else ''}; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
            "connect-src 'self'; "
            + ("worker-src 'self' blob:; " if workers else "")
            + "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def _with_csp(page: HTMLResponse, *, workers: bool = False) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = _page_csp(bytes(page.body).decode(),
                                                        workers=workers)
    return page


def install_docs(app: FastAPI) -> None:
    """Serve the vendored assets, ``/docs`` and ``/redoc`` (create the app with
    ``docs_url=None, redoc_url=None``), and declare the security schemes."""
    app.mount(STATIC_PATH, VendoredFiles(directory=STATIC_DIR), name="static")
    title = f"{app.title} API"

    def openapi_url(request: Request) -> str:
        return f"{request.scope.get('root_path', '')}{app.openapi_url}"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _with_csp(get_swagger_ui_html(
            openapi_url=openapi_url(request), title=title, oauth2_redirect_url=None,
            swagger_js_url=f"{root}{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{root}{SWAGGER_UI}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None}))  # no badge from swagger.io

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _with_csp(get_redoc_html(
            openapi_url=openapi_url(request), title=title, with_google_fonts=False,
            redoc_js_url=f"{root}{REDOC}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{SWAGGER_UI}/favicon-32x32.png"), workers=True)

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _optional_credentials(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _optional_credentials(schema: dict[str, Any]) -> None:
    """A credential an operation also works without (``auth.bearer_scheme(optional=True)``)
    becomes ``[{}, {scheme: []}]``: anonymous, or that scheme. Where the same scheme is also
    required, the requirement stands."""
    schemes = schema.get("components", {}).get("securitySchemes", {})
    for name in [n for n in schemes if n.endswith(OPTIONAL_SCHEME)]:
        schemes.setdefault(name.removesuffix(OPTIONAL_SCHEME), schemes[name])
        del schemes[name]
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            security = operation.get("security")
            if not isinstance(security, list):
                continue
            required = [req for req in security
                        if not any(n.endswith(OPTIONAL_SCHEME) for n in req)]
            optional = [{n.removesuffix(OPTIONAL_SCHEME): scopes for n, scopes in req.items()}
                        for req in security if req not in required]
            optional = [req for req in optional if req not in required]
            operation["security"] = required or [{}, *optional]
