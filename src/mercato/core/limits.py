"""Bounds on what one request may send, enforced before the app parses anything.

``RequestLimitsMiddleware`` wraps every route (``MercatoRoute`` or not: sign-in, webhooks):

- the query string is at most ``MERCATO_MAX_QUERY_STRING_BYTES`` (422 naming ``query``);
- the body is at most the limit of the route's kind: uploads (routes with form or file fields:
  the CSV import) ``MERCATO_MAX_UPLOAD_BYTES``, providers' webhooks (routes that take the raw
  body, ``core.uow.raw_body``) ``MERCATO_MAX_WEBHOOK_BYTES``, anything else
  ``MERCATO_MAX_JSON_BYTES``. A ``Content-Length`` past it is refused before a byte is read; a
  body without one (chunked) is counted as it arrives and cut off once past it. Either way
  ``413 payload_too_large``. A 200 MB JSON body to an anonymous route took the process from
  170 MB to 1.36 GB before it was refused;
- a JSON body nests arrays and objects at most ``MERCATO_MAX_JSON_DEPTH`` deep and holds no
  string (or key) longer than ``MERCATO_MAX_JSON_STRING_CHARS``: checked on its bytes before
  any parser builds objects from it (422 naming ``body``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.params import Form
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mercato.core.inputs import is_json
from mercato.settings import Settings

UPLOAD, WEBHOOK, JSON = "upload", "webhook", "json"

_ESCAPE = re.compile(rb"\\(?:u[0-9a-fA-F]{4}|.)", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body grows past its limit; rendered as a 413 problem
    (``payload_too_large``) by ``core.problems``, or here if nothing inside did."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes ({setting}).")


def json_shape_errors(body: bytes, *, max_depth: int,
                      max_string_chars: int) -> list[dict[str, str]]:
    """``[{"field": "body", "message"}]`` when a JSON text nests deeper than ``max_depth`` or
    holds a string longer than ``max_string_chars``. A few passes of C over the bytes (regular
    expressions without backtracking, ``bytes.replace``): no parser, no Python per value.
    Text that is not JSON passes unless it looks too deep or too long; the parser refuses it."""
    errors = []
    plain = _ESCAPE.sub(b"_", body) if b"\\" in body else body  # one byte per character
    if len(plain) > max_string_chars + 2:
        strings = _STRING.findall(plain)
        limit = max_string_chars + 2  # with its quotes; UTF-8 may take more bytes than chars
        if max(map(len, strings), default=0) > limit and any(
                len(s.decode("utf-8", "replace")) > limit for s in strings if len(s) > limit):
            errors.append({"field": "body", "message": f"holds a string longer than "
                           f"{max_string_chars} characters (MERCATO_MAX_JSON_STRING_CHARS)"})
    brackets = _STRING.sub(b"", plain).translate(_SQUARE, _NOT_BRACKETS)
    if brackets.count(b"[") > max_depth:
        for _ in range(max_depth):  # each pass takes away the innermost level
            inner = brackets.replace(b"[]", b"")
            if inner == brackets:
                break
            brackets = inner
        if b"[]" in brackets:
            errors.append({"field": "body", "message": f"nests arrays and objects deeper than "
                           f"{max_depth} levels (MERCATO_MAX_JSON_DEPTH)"})
    return errors


def _dependants(dependant: Dependant) -> list[Dependant]:
    found = [dependant]
    for sub in dependant.dependencies:
        found.extend(_dependants(sub))
    return found


def route_kind(route: APIRoute) -> str:
    """``UPLOAD`` for a route with form or file fields, ``WEBHOOK`` for one that takes the
    body as sent (``raw_body``: a provider's signed payload), else ``JSON``."""
    from mercato.core.uow import raw_body

    dependants = _dependants(route.dependant)
    if any(isinstance(param.field_info, Form) for d in dependants for param in d.body_params):
        return UPLOAD
    if any(d.call is raw_body for d in dependants):
        return WEBHOOK
    return JSON


def special_routes(routes: Sequence[BaseRoute]) -> list[tuple[re.Pattern[str], frozenset[str],
                                                                str]]:
    """(path pattern, methods, kind) of every route whose kind is not ``JSON``, with the
    prefixes its routers were included under."""
    special = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path and (kind := route_kind(route)) != JSON:
            regex, _, _ = compile_path(context.path)
            special.append((regex, frozenset(context.methods or ()), kind))
    return special


class RequestLimitsMiddleware:
    """See the module's description. ``routes`` are the app's, classified on first use (every
    router is included by then)."""

    def __init__(self, app: ASGIApp, *, settings: Settings, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.settings = settings
        self._routes = routes
        self._special: list[tuple[re.Pattern[str], frozenset[str], str]] | None = None
        self._limits = {UPLOAD: (settings.max_upload_bytes, "MERCATO_MAX_UPLOAD_BYTES"),
                        WEBHOOK: (settings.max_webhook_bytes, "MERCATO_MAX_WEBHOOK_BYTES"),
                        JSON: (settings.max_json_bytes, "MERCATO_MAX_JSON_BYTES")}

    def kind(self, method: str, path: str) -> str:
        if self._special is None:
            self._special = special_routes(self._routes)
        for regex, methods, kind in self._special:
            if method in methods and regex.match(path):
                return kind
        return JSON

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = self.settings
        if len(scope.get("query_string", b"")) > settings.max_query_string_bytes:
            await _problem(scope, receive, send, 422, "validation_error",
                           "The query string is too long.", [{
                               "field": "query", "message": f"at most "
                               f"{settings.max_query_string_bytes} bytes "
                               "(MERCATO_MAX_QUERY_STRING_BYTES)"}])
            return
        kind = self.kind(scope["method"], scope["path"])
        limit, setting = self._limits[kind]
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:  # refused unread
            await _too_large(scope, receive, send, BodyTooLarge(limit, setting))
            return
        if kind != UPLOAD and is_json(headers.get("content-type", "")):
            try:
                body = await _read_all(receive, limit, setting)
            except BodyTooLarge as exc:
                await _too_large(scope, receive, send, exc)
                return
            errors = json_shape_errors(body, max_depth=settings.max_json_depth,
                                       max_string_chars=settings.max_json_string_chars)
            if errors:
                await _problem(scope, receive, send, 422, "validation_error",
                               "The request is not valid.", errors)
                return
            receive = _replay(body, receive)
        else:
            receive = _counting(receive, limit, setting)
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except BodyTooLarge as exc:  # nothing inside answered it
            if started:
                raise
            await _too_large(scope, receive, send, exc)


async def _read_all(receive: Receive, limit: int, setting: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client left: the app will see the same
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit, setting)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _counting(receive: Receive, limit: int, setting: str) -> Receive:
    size = 0

    async def counting() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise BodyTooLarge(limit, setting)
        return message

    return counting


async def _too_large(scope: Scope, receive: Receive, send: Send, exc: BodyTooLarge) -> None:
    await _problem(scope, receive, send, 413, "payload_too_large", str(exc.detail), [],
                   headers={"Connection": "close"})


async def _problem(scope: Scope, receive: Receive, send: Send, status: int, code: str,
                   detail: str, errors: list[dict[str, str]],
                   headers: dict[str, Any] | None = None) -> None:
    from mercato.core.problems import problem_response

    response = problem_response(status, code, detail, errors=errors, headers=headers,
                                request=Request(scope))
    await response(scope, receive, send)
