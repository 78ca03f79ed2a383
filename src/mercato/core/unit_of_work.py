"""The unit of work of one request: a lazily opened session, committed or rolled back once
the answer is known. ``MercatoRoute`` (``core.uow``) opens one per request; dependencies and
guards reach it with ``uow_of(request)``, and endpoints take the session as ``DbSession``.

Kept apart from the route class so that what the route uses (the Idempotency-Key guard) can
use the unit of work without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated

import structlog
from anyio import CapacityLimiter
from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from mercato.core.db import Database

log = structlog.get_logger("mercato.uow")

current_uow: ContextVar[UnitOfWork] = ContextVar("mercato_uow")


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
        self._before_commit: list[Callable[[Session, Response], None]] = []
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

    def before_commit(self, callback: Callable[[Session, Response], None]) -> None:
        """Run ``callback(session, response)`` in the transaction, right before it commits a
        successful answer (the Idempotency-Key guard stores the answer to replay this way)."""
        self._before_commit.append(callback)

    def finish(self, response: Response) -> None:
        """Commit on success (running the before-commit callbacks first), roll back
        otherwise."""
        self.closed = True
        session = self._session
        try:
            if session is not None:
                if 200 <= response.status_code < 400:
                    for callback in self._before_commit:
                        callback(session, response)
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


async def get_session(request: Request) -> Session:
    """The request's session (FastAPI dependency; async because it does no I/O: no thread hop)."""
    return uow_of(request).session


DbSession = Annotated[Session, Depends(get_session)]
"""An endpoint's parameter for the request's session: ``session: DbSession``. It opens the
session when it is resolved, so it comes after the credential's dependencies (keyword-only
parameters keep that order)."""


