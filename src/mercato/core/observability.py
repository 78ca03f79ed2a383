"""Request ids, structured JSON logs and Prometheus metrics, in one pure-ASGI middleware."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import traceback
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mercato.core.ids import new_id
from mercato.core.problems import database_unavailable, problem_response, unavailable_response

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

REQUESTS = Counter(
    "mercato_http_requests_total", "HTTP requests handled.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "mercato_http_request_duration_seconds",
    "Time from request start to the last byte of the response.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

access_log = structlog.get_logger("mercato.access")
error_log = structlog.get_logger("mercato.errors")


_DRIVERS = ("psycopg", "sqlite3")


def _from_driver(exc: BaseException) -> bool:
    return type(exc).__module__.split(".", 1)[0] in _DRIVERS


def _safe_summary(exc: BaseException) -> str:
    """The last line of a traceback, without the values a database error carries: a driver's
    message quotes them (``invalid input syntax for type integer: "a@b.test"``, ``DETAIL: Key
    (email)=(...)``, ``CONTEXT: unnamed portal parameter $1 = '...'``), SQLAlchemy's appends
    the parameters. Their class, SQLSTATE and statement (no values: they are bound) stay."""
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    statement = getattr(exc, "statement", None)
    orig = getattr(exc, "orig", None)
    if orig is not None or _from_driver(exc):
        driver = orig if orig is not None else exc
        state = getattr(driver, "sqlstate", None) or getattr(driver, "sqlite_errorname", None)
        parts = [f"{name}: ({type(driver).__module__}.{type(driver).__qualname__})"]
        if state:
            parts.append(f"[state {state}]")
        if isinstance(statement, str):
            parts.append(f"\n[SQL: {statement}]")
        return " ".join(parts) + " [message and parameters withheld]"
    return "".join(traceback.format_exception_only(type(exc), exc)).rstrip()


def safe_traceback(exc: BaseException) -> str:
    """``exc``'s traceback (chained causes first, as Python prints them) with every database
    error's message replaced by ``_safe_summary``: logs never carry what a customer sent."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__
                                        else current.__context__)
    blocks = []
    for item in reversed(chain):
        frames = "".join(traceback.format_tb(item.__traceback__))
        blocks.append(f"Traceback (most recent call last):\n{frames}{_safe_summary(item)}")
    return "\n\nThe above exception led to the following exception:\n\n".join(blocks)


def _safe_exc_info(logger: Any, method: str,
                   event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog's ``format_exc_info``, through ``safe_traceback``."""
    exc_info = event.pop("exc_info", None)
    if not exc_info:
        return event
    if exc_info is True:
        exc_info = sys.exc_info()
    exc = exc_info if isinstance(exc_info, BaseException) else exc_info[1]
    if isinstance(exc, BaseException):
        event["exception"] = safe_traceback(exc)
    return event


def configure_logging(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """structlog to stdout: one JSON object per line, with the request id bound per request."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _safe_exc_info,  # not format_exc_info: a database error's values stay out
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stdout),
        cache_logger_on_first_use=False,
    )


def metrics_payload() -> tuple[bytes, str]:
    """Metrics of this process, or of all server processes when run with several workers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def route_template(scope: Scope) -> str:
    """The matched route's whole path template (``/api/v1/reviews/{review_id}``).

    FastAPI includes a router lazily: the route it hands the request to (``scope["route"]``)
    keeps only its own path, without the prefixes of the routers it was included in, so
    nested routers' routes were counted under ``/reviews/{review_id}``. The effective route
    FastAPI matched carries the whole template; a route matched without one (a Starlette
    route, or a FastAPI that copies routes when including them) has it as its own path.
    """
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    template = getattr(effective, "path_format", None)
    if isinstance(template, str) and template:
        return template
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else "<unmatched>"


class ObservabilityMiddleware:
    """Assigns the request id, times the request, counts it by route template, logs it.

    It also answers an unhandled exception with a 500 problem and does not re-raise it:
    Starlette's own last-resort handler re-raises after responding, and uvicorn then closes
    the connection, so a keep-alive client (a load balancer, a connector) saw a reset.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        start = time.perf_counter()
        status = 500
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            unavailable = database_unavailable(exc)  # raised outside the routes' handlers
            if unavailable:
                error_log.warning("database_unavailable", error=type(exc).__name__)
            else:
                error_log.exception("unhandled_error", error=type(exc).__name__)
            if started:
                raise  # half a response is out: the only honest thing left is to close
            response = (unavailable_response(Request(scope)) if unavailable else
                        problem_response(500, "internal_error", "An unexpected error occurred.",
                                         request=Request(scope)))
            await response(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            template = route_template(scope)
            method = scope["method"]
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template, str(status)).observe(elapsed)
            access_log.info(
                "request",
                method=method,
                path=scope["path"],
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")
