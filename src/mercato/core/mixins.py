"""Column mixins for the columns many tables repeat: when a row was made and last changed, and
its version for optimistic locking (``core.etag``: ``ETag``/``If-Match``).

A model lists them before ``Base``: ``class Product(TenantMixin, Timestamps, Versioned, Base)``.
Mixin columns come after the model's own columns in the table, in that order (created_at,
updated_at, version, then TenantMixin's organization_id), which is where the tables made by the
migrations have them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from mercato.core.db import utcnow


class Timestamps:
    """``created_at`` when the row is inserted; ``updated_at`` then and on every ORM update."""

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Versioned:
    """``version``, 1 on insert and one more on every ORM update (SQLAlchemy's version counter):
    an update of a row changed meanwhile raises ``StaleDataError``."""

    version: Mapped[int] = mapped_column(Integer, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]
