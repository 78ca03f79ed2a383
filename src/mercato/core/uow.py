"""One request, one transaction: the unit of work and the route class that drives it.

``MercatoRoute`` opens a unit of work around every endpoint. It commits when the endpoint
answers with a success status and rolls back on any error status or exception, so a request
that fails changes nothing. POST routes also get the Idempotency-Key guard, whose stored
response is written in the same transaction as the work it describes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from mercato.core.db import Database
    from mercato.core.idempotency import IdempotencyKey

log = structlog.get_logger("mercato.uow")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class UnitOfWork:
    """A lazily opened session; cheap for requests that never touch the database."""

    def __init__(self, db: Database, *, write: bool) -> None:
        self.db = db
        self.write = write
        self._session: Session | None = None
        self.idempotency: IdempotencyKey | None = None
        self._after_close: list[Callable[[], None]] = []

    def after_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the request's transaction has ended, whatever its outcome.

        For bookkeeping that must survive a failed request (a failed sign-in) or must not
        write inside a read request (an API key's last-used time).
        """
        self._after_close.append(callback)

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self.db.session(write=self.write)
        return self._session

    @property
    def started(self) -> bool:
        return self._session is not None

    @property
    def pending_callbacks(self) -> bool:
        return bool(self._after_close)

    def finish(self, response: Response) -> None:
        """Commit on success (storing the idempotent response first), roll back otherwise."""
        session = self._session
        if session is None:
            self._run_after_close()
            return
        try:
            if 200 <= response.status_code < 400:
                if self.idempotency is not None:
                    from mercato.core.idempotency import store_response

                    store_response(session, self.idempotency, response)
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()
            self._run_after_close()

    def abort(self) -> None:
        if self._session is not None:
            try:
                self._session.rollback()
            finally:
                self._session.close()
        self._run_after_close()

    def _run_after_close(self) -> None:
        callbacks, self._after_close = self._after_close, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("after_close_failed")


async def get_uow(request: Request) -> UnitOfWork:
    """The request's unit of work (FastAPI dependency)."""
    return uow_of(request)


def uow_of(request: Request) -> UnitOfWork:
    uow = getattr(request.state, "uow", None)
    if uow is None:
        raise RuntimeError("route is not a MercatoRoute; use mercato.core.uow.MercatoRoute")
    return uow  # type: ignore[no-any-return]


async def get_session(request: Request) -> Session:
    """The request's session (FastAPI dependency; async because it does no I/O: no thread hop)."""
    return uow_of(request).session


class MercatoRoute(APIRoute):
    """APIRoute with a unit of work per request and Idempotency-Key on every POST."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {m.upper() for m in kwargs.get("methods") or ()}
        if "POST" in methods:
            from fastapi import Depends

            from mercato.core.idempotency import idempotency_guard

            kwargs["dependencies"] = [*(kwargs.get("dependencies") or []),
                                      Depends(idempotency_guard)]
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_unit_of_work(request: Request) -> Response:
            uow = UnitOfWork(request.app.state.db, write=request.method not in SAFE_METHODS)
            request.state.uow = uow
            if request.method == "POST" and "idempotency-key" in request.headers:
                from mercato.core.idempotency import fingerprint

                body = await request.body()  # cached on the request, the endpoint reads it too
                request.state.idempotency_fingerprint = fingerprint(request, body)
            try:
                response = await handler(request)
            except BaseException:
                if uow.started or uow.pending_callbacks:
                    await run_in_threadpool(uow.abort)
                raise
            if uow.started or uow.pending_callbacks:
                await run_in_threadpool(uow.finish, response)
            return response

        return run_in_unit_of_work
