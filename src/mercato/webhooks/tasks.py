"""The worker's webhook sender, on a thread of its own (``core.outbox.background``): it waits
on merchants' servers, so it must never hold up event delivery or other loops."""

from __future__ import annotations

import threading

from mercato.core.db import Database
from mercato.core.outbox import background
from mercato.settings import get_settings
from mercato.webhooks.sender import Sender


@background(name="webhooks")
def webhook_loop(db: Database, stop: threading.Event) -> None:
    sender = Sender(db, get_settings())
    try:
        sender.run(stop)
    finally:
        sender.close()
