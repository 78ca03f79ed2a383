"""Request ids, structured JSON logs and Prometheus metrics, in one pure-ASGI middleware."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
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

from mercato.core.errors import database_unavailable, problem_response, unavailable_response
from mercato.core.ids import new_id

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
            structlog.processors.format_exc_info,
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
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
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
