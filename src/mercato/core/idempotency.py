"""``Idempotency-Key`` for every POST, stored in the transaction that does the work.

The guard inserts the key before the endpoint runs. A concurrent duplicate blocks on the unique
index (PostgreSQL) or on the write lock (SQLite) until the first request commits, then replays
its stored response. A first request that fails rolls its key back with its work, so a retry
runs again. The same key with another method, path or body is a 422 ``idempotency_mismatch``.
An answer that carries a secret (a token, a new API key) is stored sealed (``seal_answer``).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from fastapi import Depends, Request, Response
from sqlalchemy import Boolean, Integer, LargeBinary, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from mercato.core.auth import Principal, get_optional_principal
from mercato.core.db import Base, utcnow
from mercato.core.errors import BadRequest, IdempotencyMismatch
from mercato.core.ids import new_id
from mercato.core.secrets import Vault
from mercato.core.uow import uow_of

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"
SEALING_PURPOSE = "idempotent-answers"


class IdempotencyKey(Base):
    """A completed POST: its request fingerprint and the response to replay."""

    __tablename__ = "idempotency_keys"
    __audited__ = False
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    sealed: Mapped[bool] = mapped_column(Boolean, default=False, doc=(
        "The body is encrypted (core.secrets, purpose idempotent-answers): it carries a "
        "secret."))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class IdempotentReplay(Exception):
    """Raised by the guard to answer with the stored response instead of running the endpoint."""

    def __init__(self, row: IdempotencyKey, body: bytes) -> None:
        self.status_code = row.status_code or 200
        self.body = body
        self.content_type = row.content_type or "application/json"


def fingerprint(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(),
                 request.url.query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _lookup(session: Session, scope: str, key: str) -> IdempotencyKey | None:
    return session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    )


def _answer(session: Session, row: IdempotencyKey, fp: str) -> Exception:
    if row.fingerprint != fp:
        return _mismatch()
    body = row.response_body or b""
    if row.sealed and body:
        body = Vault.of(session, SEALING_PURPOSE).open(body.decode()).encode()
    return IdempotentReplay(row, body)


def _mismatch() -> IdempotencyMismatch:
    return IdempotencyMismatch(
        "This Idempotency-Key was used with a different request.",
        errors=[{"field": HEADER, "message": "reused with a different method, path or body"}],
    )


async def idempotency_guard(
    request: Request, principal: Principal | None = Depends(get_optional_principal)
) -> None:
    """Claims the key on the endpoint's thread, just before the endpoint runs."""
    key = request.headers.get(HEADER)
    if key is None:
        return
    uow_of(request).defer(lambda session: _claim(request, session, principal, key))


def _claim(request: Request, session: Session, principal: Principal | None, key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.",
            errors=[{"field": HEADER, "message": "invalid key"}],
        )
    fp: str = request.state.idempotency_fingerprint
    store = getattr(request.state, "store", None)  # storefront calls: per store, not per caller
    scope = principal.organization_id if principal else (
        f"store:{store.organization_id}" if store is not None else "anonymous")
    existing = _lookup(session, scope, key)
    if existing is not None:
        raise _answer(session, existing, fp)
    row = IdempotencyKey(scope=scope, key=key, fingerprint=fp)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # A concurrent duplicate committed first (we waited on its row): answer as it did.
        existing = _lookup(session, scope, key)
        if existing is None:  # pragma: no cover - the winner's row must be visible now
            raise
        raise _answer(session, existing, fp) from None
    uow_of(request).idempotency = row


def seal_answer(request: Request) -> None:
    """The answer carries a secret: if it is kept for replay, keep it encrypted, as the
    secret itself is kept (a hash, or sealed) and never in plain text."""
    uow_of(request).seal_answer = True


def store_response(session: Session, row: IdempotencyKey, response: Response, *,
                   sealed: bool = False) -> None:
    body = getattr(response, "body", None)
    if not isinstance(body, bytes | bytearray | memoryview):
        session.delete(row)  # a streamed answer cannot be replayed; let the key be reused
        return
    row.status_code = response.status_code
    row.content_type = response.headers.get("content-type")
    row.sealed = sealed
    row.response_body = (Vault.of(session, SEALING_PURPOSE).seal(bytes(body).decode()).encode()
                         if sealed else bytes(body))


async def on_replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return Response(content=exc.body, status_code=exc.status_code,
                    media_type=exc.content_type, headers={REPLAYED_HEADER: "true"})


def purge_expired(session: Session, *, older_than: dt.timedelta) -> int:
    """Forget keys past their retention (the worker calls this periodically)."""
    result = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)
