"""The plugins module's one table: each organization's state of each installed plugin."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps


class PluginSetting(Timestamps, TenantMixin, Base):
    """Whether an organization runs a plugin, with which configuration, and before or after
    which others (``priority``: lower runs first; ties by name). A plugin installed on the
    server but never configured by an organization has no row and is disabled there."""

    __tablename__ = "plugin_settings"
    __audit_exclude__ = frozenset({"config"})  # may hold a chat webhook URL: a secret
    __table_args__ = (UniqueConstraint("organization_id", "plugin"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    plugin: Mapped[str] = mapped_column(String(63))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    config: Mapped[dict[str, Any]]
    priority: Mapped[int] = mapped_column(Integer, default=100)
