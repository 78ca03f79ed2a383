"""One request, one transaction: the unit of work and the route class that drives it.

``MercatoRoute`` opens a unit of work around every endpoint. It commits when the endpoint
answers with a success status and rolls back on any error status or exception, so a request
that fails changes nothing. POST routes also get the Idempotency-Key guard, whose stored
response is written in the same transaction as the work it describes.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import weakref
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated, Any

import anyio.to_thread
import structlog
from anyio import CapacityLimiter
from fastapi import Depends, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mercato.core.inputs import is_json, nul_errors
from mercato.settings import Settings

if TYPE_CHECKING:
    from mercato.core.db import Database
    from mercato.core.idempotency_keys import IdempotencyKey

log = structlog.get_logger("mercato.uow")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_METHODS = frozenset({"GET", "HEAD"})

_current: ContextVar[UnitOfWork] = ContextVar("mercato_uow")


class UnitOfWork:
    """A lazily opened session; cheap for requests that never touch the database.

    Work that needs the database before the endpoint runs (confirming the caller, claiming an
    Idempotency-Key) is *deferred* and runs in the endpoint's own thread, right before it: a
    request then costs one trip to the thread pool instead of one per dependency, and on this
    kind of machine each trip costs about half a millisecond.
    """

    def __init__(self, db: Database, *, write: bool,
                 limiter: CapacityLimiter | None = None, statement_timeout_ms: int = 0) -> None:
        self.db = db
        self.write = write
        self.statement_timeout_ms = statement_timeout_ms
        """PostgreSQL cancels a statement of the request that runs longer (0: never)."""
        self.limiter = limiter
        """The thread pool a read endpoint runs on (None: the default pool)."""
        self._session: Session | None = None
        self.idempotency: IdempotencyKey | None = None
        self._deferred: list[Callable[[Session], None]] = []
        self._after_close: list[Callable[[], None]] = []
        self.closed = False

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self.db.session(write=self.write,
                                            statement_timeout_ms=self.statement_timeout_ms)
        return self._session

    @property
    def open(self) -> bool:
        """Something is left to finish: a session, deferred checks or callbacks."""
        return not self.closed and bool(self._session or self._deferred or self._after_close)

    def defer(self, check: Callable[[Session], None]) -> None:
        """Run ``check(session)`` on the endpoint's thread before the endpoint (in order)."""
        self._deferred.append(check)

    def run_deferred(self) -> None:
        checks, self._deferred = self._deferred, []
        for check in checks:
            check(self.session)

    def release(self) -> None:
        """End the transaction that authentication may have begun (an API key's lookup), so
        that an endpoint can wait on the network holding no database lock (SQLite's write lock
        above all); the session begins again at its next statement. Nothing may be written yet.
        """
        session = self._session
        if session is not None and session.in_transaction():
            if session.new or session.dirty or session.deleted:
                raise RuntimeError("release() after a write would lose it")
            session.rollback()

    def after_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the request's transaction has ended, whatever its outcome.

        For bookkeeping that must survive a failed request (a failed sign-in) or must not
        write inside a read request (an API key's last-used time).
        """
        self._after_close.append(callback)

    def finish(self, response: Response) -> None:
        """Commit on success (storing the idempotent response first), roll back otherwise."""
        self.closed = True
        session = self._session
        try:
            if session is not None:
                if 200 <= response.status_code < 400:
                    if self.idempotency is not None:
                        from mercato.core.idempotency import store_response

                        store_response(session, self.idempotency, response)
                    session.commit()
                else:
                    session.rollback()
        finally:
            if session is not None:
                session.close()
            self._run_after_close()

    def abort(self) -> None:
        self.closed = True
        try:
            if self._session is not None:
                self._session.rollback()
        finally:
            if self._session is not None:
                self._session.close()
            self._run_after_close()

    def _run_after_close(self) -> None:
        callbacks, self._after_close = self._after_close, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("after_close_failed")


def uow_of(request: Request) -> UnitOfWork:
    uow = getattr(request.state, "uow", None)
    if uow is None:
        raise RuntimeError("route is not a MercatoRoute; use mercato.core.uow.MercatoRoute")
    return uow  # type: ignore[no-any-return]


def read_pool(request: Request) -> CapacityLimiter:
    """The app's pool for read endpoints on the running event loop (a limiter is bound to the
    loop it first waits on; a test client runs each client on a loop of its own)."""
    state = request.app.state
    pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] | None = (
        getattr(state, "read_pools", None))
    if pools is None:
        pools = state.read_pools = weakref.WeakKeyDictionary()
    loop = asyncio.get_running_loop()
    limiter = pools.get(loop)
    if limiter is None:
        settings = getattr(state, "settings", None)
        limiter = pools[loop] = CapacityLimiter(
            settings.read_threads if settings is not None
            else Settings.model_fields["read_threads"].default)
    return limiter


async def get_session(request: Request) -> Session:
    """The request's session (FastAPI dependency; async because it does no I/O: no thread hop)."""
    return uow_of(request).session


DbSession = Annotated[Session, Depends(get_session)]
"""An endpoint's parameter for the request's session: ``session: DbSession``. It opens the
session when it is resolved, so it comes after the credential's dependencies (keyword-only
parameters keep that order)."""


class MercatoRoute(APIRoute):
    """APIRoute with a unit of work per request and Idempotency-Key on every POST.

    A plain ``def`` endpoint is wrapped so that, on its worker thread, it runs the deferred
    checks, the endpoint, the serialization of its answer and the commit: one thread-pool trip
    per request. Its answer is rendered here (with ``response_model``), so FastAPI does not
    take a second trip to validate it.

    GET endpoints run on a small pool of their own (``MERCATO_READ_THREADS``, ``read_pool``).
    Their work is Python and a local database, and a process runs Python on one core: with 16
    reads in flight on 16 threads, each waited for the GIL after every query and a 50-product
    page took 114 ms at p95 (245/s); on 2 threads, 53 ms (337/s). Writes keep the default pool:
    a write may wait on a row lock or another service (a payment gateway) and must not hold
    the reads up.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {m.upper() for m in kwargs.get("methods") or ()}
        if "POST" in methods:
            from fastapi import Depends

            from mercato.core.idempotency import idempotency_guard

            kwargs["dependencies"] = [*(kwargs.get("dependencies") or []),
                                      Depends(idempotency_guard)]
        from mercato.core.problems import PROBLEM_RESPONSES

        kwargs["responses"] = {**PROBLEM_RESPONSES, **(kwargs.get("responses") or {})}
        self._adapter: TypeAdapter[Any] | None = None
        self._reads = bool(methods) and methods <= READ_METHODS
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = self._in_unit_of_work(endpoint)
            if self._reads:
                endpoint = self._on_read_pool(endpoint)
        super().__init__(path, endpoint, **kwargs)
        if self.response_model is not None:
            self._adapter = TypeAdapter(self.response_model)

    def _in_unit_of_work(self, endpoint: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(endpoint)
        def in_unit_of_work(*args: Any, **kwargs: Any) -> Response:
            uow = _current.get()
            try:
                uow.run_deferred()
                response = self._render(endpoint(*args, **kwargs), kwargs)
                uow.finish(response)
            except BaseException:
                if not uow.closed:
                    uow.abort()
                raise
            return response

        return in_unit_of_work

    @staticmethod
    def _on_read_pool(endpoint: Callable[..., Response]) -> Callable[..., Any]:
        """The endpoint as a coroutine that takes its thread from the request's read pool."""
        @functools.wraps(endpoint)
        async def on_read_pool(*args: Any, **kwargs: Any) -> Response:
            run = functools.partial(endpoint, *args, **kwargs)
            return await anyio.to_thread.run_sync(run, limiter=_current.get().limiter)

        return on_read_pool

    def _render(self, result: Any, kwargs: dict[str, Any]) -> Response:
        if isinstance(result, Response):
            response = result
        else:
            if self._adapter is None:
                body = json.dumps(jsonable_encoder(result)).encode()
            else:
                value = self._adapter.validate_python(result, from_attributes=True)
                body = self._adapter.dump_json(value)
            response = Response(body, status_code=self.status_code or 200,
                                media_type="application/json")
        for value in kwargs.values():  # headers and status set on an injected `response`
            if isinstance(value, Response) and value is not response:
                for name, header in value.headers.items():
                    if name.lower() != "content-length":
                        response.headers[name] = header
                if value.status_code:
                    response.status_code = value.status_code
        return response

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_unit_of_work(request: Request) -> Response:
            await refuse_nul(request)
            settings = getattr(request.app.state, "settings", None)
            uow = UnitOfWork(request.app.state.db, write=request.method not in SAFE_METHODS,
                             limiter=read_pool(request) if self._reads else None,
                             statement_timeout_ms=settings.statement_timeout_ms
                             if settings is not None else 0)
            request.state.uow = uow
            token = _current.set(uow)
            if request.method == "POST" and "idempotency-key" in request.headers:
                from mercato.core.idempotency import fingerprint

                body = await request.body()  # cached on the request, the endpoint reads it too
                request.state.idempotency_fingerprint = fingerprint(request, body)
            try:
                response = await handler(request)
            except BaseException:
                if uow.open:
                    await run_in_threadpool(uow.abort)
                raise
            finally:
                _current.reset(token)
            if uow.open:  # an async endpoint, or a dependency failed before the endpoint ran
                await run_in_threadpool(uow.finish, response)
            return response

        return run_in_unit_of_work


async def refuse_nul(request: Request) -> None:
    """422 for a NUL character in a path or query parameter or a JSON body: no column stores
    one (PostgreSQL refuses it in any text), so it is bad input, not a server error."""
    from mercato.core.errors import ValidationFailed

    body = await request.body() if is_json(request.headers.get("content-type", "")) else None
    errors = nul_errors(request.path_params, request.query_params.multi_items(), body)
    if errors:
        raise ValidationFailed("The request is not valid.", errors=errors)


async def raw_body(request: Request) -> bytes:
    """The request body exactly as sent: what a provider's webhook signature covers (parsing
    it first would change it)."""
    return await request.body()
