"""The test plugin's table: a plain model on Mercato's ``Base`` with ``TenantMixin``."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin
from mercato.core.ids import new_id


class PluginNote(TenantMixin, Base):
    __tablename__ = "test_plugin_notes"

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    body: Mapped[str] = mapped_column(String(200))
