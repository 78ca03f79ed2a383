"""What a plugin author writes against: the manifest, the context a hook gets, the refusal.

A plugin is a Python distribution with an entry point in the group ``mercato.plugins`` naming
a ``Manifest`` (or a function returning one). docs/plugins.md says how to write one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from mercato.core.outbox import Event

NAME = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
"""A plugin's name: lower case, digits and dashes; it is a URL segment and a handler name."""


class Refusal(Exception):
    """Raised by a ``before_*`` hook to refuse: the caller answers 422 naming the plugin and
    this message (and ``field``, when the refusal is about one), and nothing changes."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class PluginContext:
    """What a hook may use: its organization's session (every ORM query on it is scoped to
    ``organization_id``, and on PostgreSQL row-level security holds it there too), the
    organization's configuration of this plugin, and the operator's egress allow-list (pass
    it to ``mercato.core.egress.check_url`` before calling a configured URL)."""

    plugin: str
    organization_id: str
    session: Session
    config: Mapping[str, Any]
    allow_hosts: tuple[str, ...] = ()


BeforeHookFunc = Callable[[PluginContext, dict[str, Any]], "dict[str, Any] | None"]
"""``hook(ctx, data)``: return the changed data (a new dict), or None to leave it; raise
``Refusal`` to refuse."""

AfterHookFunc = Callable[[PluginContext, Event], None]
"""``hook(ctx, event)``: runs from the outbox after the change committed; raise to have the
outbox retry it (with backoff, until the worker's last attempt)."""


@dataclass(frozen=True)
class Manifest:
    """A plugin's declaration. ``before`` maps hook points (``before_product_save``,
    ``before_order_create``, ``before_checkout``, ``before_payment``) to functions, ``after``
    maps event types (``order.created``, ``order.paid``, ...) to functions.
    ``settings_schema`` is the JSON Schema an organization's configuration must satisfy;
    ``permissions`` are the staff permissions an organization's staff member must hold to
    enable it (and that its routes should require); ``routes`` is a factory returning a
    FastAPI ``APIRouter``, mounted under ``/api/v1/plugins/<name>`` and answering only for
    organizations that enabled the plugin.
    ``migrations`` names the Alembic versions directory shipped in the plugin's distribution,
    as ``"package:subdir"`` (or ``"package"`` for the package's own directory): its revisions
    are their own branch (``branch_labels`` = the plugin's name), which ``mercato migrate``
    applies with Mercato's own (docs/plugins.md, "Migrations")."""

    name: str
    version: str
    description: str = ""
    before: Mapping[str, BeforeHookFunc] = field(default_factory=dict)
    after: Mapping[str, AfterHookFunc] = field(default_factory=dict)
    settings_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    permissions: tuple[str, ...] = ()
    routes: Callable[[], Any] | None = None
    default_priority: int = 100
    migrations: str | None = None
