"""The one rendering of errors: RFC 9457 ``application/problem+json`` (the web side).

``install_error_handlers`` turns domain errors (``mercato.core.errors``), validation failures,
unknown routes, wrong methods, malformed JSON and database outages into problem documents with
a stable ``code``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mercato.core.errors import RESERVED_MEMBERS, MercatoError

__all__ = ["PROBLEM_JSON", "PROBLEM_RESPONSES", "FieldError", "Problem", "database_unavailable",
           "install_error_handlers", "problem_response", "unavailable_response"]

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger("mercato.errors")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error is answered (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine word: validation_error, not_found, conflict…")
    errors: list[FieldError] = Field(default_factory=list)
    instance: str | None = None
    request_id: str | None = None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description,
             "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for status, description in (
        (400, "Malformed request (bad JSON, bad cursor, bad Idempotency-Key)"),
        (401, "No or bad credential"),
        (403, "The caller lacks a permission"),
        (404, "Absent, or another organization's"),
        (409, "Conflicts with the current state"),
        (412, "If-Match names an older version"),
        (413, "The body is larger than the route's limit (payload_too_large)"),
        (422, "Invalid input, or Idempotency-Key reused with another request"),
        (429, "Rate limited"),
        (503, "A statement ran past MERCATO_STATEMENT_TIMEOUT_MS (statement_timeout), the "
              "database is unreachable (database_unavailable), or a provider did not answer; "
              "Retry-After says when to try again"),
    )
}


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
    request: Request | None = None,
) -> JSONResponse:
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        **{k: v for k, v in (extra or {}).items() if k not in RESERVED_MEMBERS},
        "type": f"https://mercato.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "errors": [dict(e) for e in errors],
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    return JSONResponse(body, status_code=status, headers=dict(headers or {}),
                        media_type=PROBLEM_JSON)


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:] if len(parts) > 1 else parts
    return ".".join(parts)


async def _on_mercato_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MercatoError)
    return problem_response(exc.status, exc.code, exc.detail, errors=exc.errors,
                            headers=exc.headers, extra=exc.extra, request=request)


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in raw):
        return problem_response(400, "malformed_json", "The request body is not valid JSON.",
                                errors=[{"field": "body", "message": str(e.get("msg"))}
                                        for e in raw], request=request)
    errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg"))} for e in raw]
    return problem_response(422, "validation_error", "The request is not valid.",
                            errors=errors, request=request)


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 411: "length_required",
    413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited",
}


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        detail = f"No resource at {request.url.path}."
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    else:
        detail = str(exc.detail)
    return problem_response(status, _HTTP_CODES.get(status, "error"), detail,
                            headers=exc.headers, request=request)


async def _on_stale(request: Request, exc: Exception) -> Response:
    """A versioned row changed between our read and our write (another request won)."""
    if "if-match" in request.headers:
        return problem_response(412, "precondition_failed",
                                "The resource changed since you read it; fetch it again and "
                                "retry.", request=request)
    return problem_response(409, "conflict", "The resource was changed by a concurrent request; "
                            "retry.", request=request)


STATEMENT_TIMEOUT_RETRY_SECONDS = 5
QUERY_CANCELED = "57014"
"""PostgreSQL's SQLSTATE for a statement cancelled (by ``statement_timeout``)."""


async def _on_operational(request: Request, exc: Exception) -> Response:
    """A statement PostgreSQL cancelled because it ran past ``MERCATO_STATEMENT_TIMEOUT_MS``
    is a 503 with its own code: the request asked for more work than the server gives one
    request, not a bug. An unreachable database is a 503 ``database_unavailable``
    (``_on_database_error``); any other operational error stays a server error."""
    assert isinstance(exc, OperationalError)
    if getattr(exc.orig, "sqlstate", None) != QUERY_CANCELED:
        return await _on_database_error(request, exc)
    log.warning("statement_timeout", path=request.url.path)
    return problem_response(503, "statement_timeout",
                            "The request took longer than the server allows a query to run "
                            "(MERCATO_STATEMENT_TIMEOUT_MS); narrow it, or try again later.",
                            headers={"Retry-After": str(STATEMENT_TIMEOUT_RETRY_SECONDS)},
                            request=request)


async def _on_integrity(request: Request, exc: Exception) -> Response:
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)  # PostgreSQL's DETAIL would quote the row's values
    log.warning("integrity_error", error=type(orig).__name__,
                constraint=getattr(diag, "constraint_name", None)
                or (str(orig)[:200] if type(orig).__module__.startswith("sqlite3") else None))
    return problem_response(409, "conflict", "The change conflicts with existing data.",
                            request=request)


_UNAVAILABLE_SQLSTATES = ("08", "3D", "28", "53300", "57P01", "57P02", "57P03")
"""PostgreSQL states that mean no usable connection: connection exceptions (08), the database
is gone (3D000) or refuses the role (28), too many connections, the server shutting down or
starting up."""
_UNAVAILABLE_SQLITE = ("unable to open database", "disk i/o error")
DATABASE_RETRY_AFTER = 5
"""Seconds a client is told to wait before trying again when the database is unreachable."""


def database_unavailable(exc: BaseException) -> bool:
    """The error says the database cannot be reached (down, dropped, refusing connections,
    no free connection in the pool), not that a statement failed."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    orig = exc.orig
    module = type(orig).__module__
    if module.startswith("psycopg"):
        sqlstate = getattr(orig, "sqlstate", None)
        # psycopg raises a failed connect (refused, unknown host, timeout) with no state
        return sqlstate is None or str(sqlstate).startswith(_UNAVAILABLE_SQLSTATES)
    if module.startswith("sqlite3"):
        return str(orig).lower().startswith(_UNAVAILABLE_SQLITE)
    return False


def unavailable_response(request: Request | None = None) -> JSONResponse:
    """503 ``database_unavailable``: a retryable outage, with ``Retry-After``."""
    return problem_response(503, "database_unavailable",
                            "The database is not reachable right now; try again shortly.",
                            headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
                            request=request)


async def _on_database_error(request: Request, exc: Exception) -> Response:
    """An unreachable database is a 503 problem; any other database error stays unhandled
    (a 500, logged by ``ObservabilityMiddleware``)."""
    if not database_unavailable(exc):
        raise exc
    log.warning("database_unavailable", error=type(exc).__name__)
    return unavailable_response(request)


def install_error_handlers(app: FastAPI) -> None:
    """Known errors to problems; anything else is answered by ``ObservabilityMiddleware``."""
    app.add_exception_handler(MercatoError, _on_mercato_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(StaleDataError, _on_stale)
    app.add_exception_handler(IntegrityError, _on_integrity)
    app.add_exception_handler(OperationalError, _on_operational)
    for database_error in (InterfaceError, PoolTimeout):
        app.add_exception_handler(database_error, _on_database_error)
