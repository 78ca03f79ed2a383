"""What browsers need from every response: CORS for the listed origins, security headers.

``MERCATO_CORS_ORIGINS`` lists the origins allowed to call the API from a browser. A listed
origin gets ``Access-Control-Allow-Origin`` naming it (with credentials); any other gets no CORS
header at all, and its preflight a 400 problem. Every response carries ``nosniff``, a referrer
policy, no framing, a Content-Security-Policy suited to what it is (a JSON answer may load
nothing; an HTML page its own assets), and HSTS when served over https.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mercato.core.problems import PROBLEM_JSON

CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "If-Match",
                        "If-None-Match", "X-Request-ID")
CORS_EXPOSED_HEADERS = ("ETag", "Location", "Link", "Retry-After", "Content-Disposition",
                        "Idempotent-Replayed", "X-Request-ID", "WWW-Authenticate")
CORS_MAX_AGE = 600

JSON_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
"""A JSON (or any non-HTML) answer loads nothing and may not be framed."""
HTML_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
"""An HTML page without a policy of its own: its own assets only, no inline script."""
HSTS = "max-age=31536000"
"""No includeSubDomains: the platform's subdomains may be stores' or someone else's."""


class ListedOriginsCORS(CORSMiddleware):
    """Starlette's CORS, answering only listed origins: an unlisted origin's responses carry no
    CORS header at all (Starlette's would still say ``Allow-Credentials: true``), and its
    preflight is a problem document rather than plain text."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        super().__init__(app, allow_origins=list(origins), allow_methods=CORS_METHODS,
                         allow_headers=CORS_REQUEST_HEADERS, allow_credentials=True,
                         expose_headers=CORS_EXPOSED_HEADERS, max_age=CORS_MAX_AGE)
        self.listed = frozenset(origins)

    def preflight_response(self, request_headers: Headers) -> Response:
        origin = request_headers["origin"]
        if origin in self.listed:
            response = super().preflight_response(request_headers=request_headers)
            if response.status_code == 200:
                return response
            detail = (f"The preflight from {origin} asks for a method or header the API does "
                      f"not take; methods: {', '.join(CORS_METHODS)}; headers: "
                      f"{', '.join(CORS_REQUEST_HEADERS)}.")
            headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        else:
            detail = (f"The origin {origin} may not call this API from a browser "
                      "(MERCATO_CORS_ORIGINS lists those that may).")
            headers = {"Vary": "Origin"}
        body = {"type": "https://mercato.dev/problems/bad_request", "title": "Bad Request",
                "status": 400, "detail": detail, "code": "bad_request", "errors": []}
        return Response(json.dumps(body), status_code=400, headers=headers,
                        media_type=PROBLEM_JSON)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        origin = request_headers.get("origin")
        if message["type"] == "http.response.start" and origin not in self.listed:
            headers = MutableHeaders(scope=message)  # what is answered depends on Origin
            headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
            await send(message)
            return
        await super().send(message, send, request_headers)


class SecurityHeadersMiddleware:
    """Adds the security headers to every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                html = headers.get("content-type", "").startswith("text/html")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                # same-origin, not no-referrer: a same-origin form POST must still send its
                # Origin (no-referrer makes it "null"), which CSRF checks read
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Content-Security-Policy", HTML_CSP if html else JSON_CSP)
                if https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)
