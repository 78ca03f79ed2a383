"""Stored ``Idempotency-Key`` answers: the table and its purge (plain Python, for the schema and
the worker). The guard that fills it on every POST is ``core.idempotency`` (the web side)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Integer, LargeBinary, String, UniqueConstraint, delete
from sqlalchemy.orm import Mapped, Session, mapped_column

from mercato.core.db import Base, utcnow
from mercato.core.ids import new_id

MAX_KEY_LENGTH = 255


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
        "The body is encrypted (core.secrets, purpose idempotent-answers): every stored "
        "answer is, except an empty one."))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


def purge_expired(session: Session, *, older_than: dt.timedelta) -> int:
    """Forget keys past their retention (the worker calls this periodically)."""
    result = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - older_than)
    )
    return int(getattr(result, "rowcount", 0) or 0)
