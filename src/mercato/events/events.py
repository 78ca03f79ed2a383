"""This module's outbox handlers: the NATS JetStream export (``nats.py``), subscribed by
``configure_handlers`` only when ``MERCATO_NATS_URL`` is set."""

from __future__ import annotations

from mercato.events.nats import configure
from mercato.settings import Settings


def configure_handlers(settings: Settings) -> None:
    """Called by ``app.load_modules`` with the process's settings."""
    configure(settings)
