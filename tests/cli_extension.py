"""A plugin for tests/test_cli.py, loaded only by the processes it starts.

``MERCATO_EXTENSIONS=tests.cli_extension`` makes ``mercato worker`` import this module, which
subscribes a handler that proves it ran by appending the event id to the file the event names.
The test process never imports it, so the handler is not registered in other tests.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from mercato.core.outbox import Event, subscribe

EVENT_TYPE = "cli_test.pinged"
HANDLER = "cli-test-recorder"


@subscribe(EVENT_TYPE, name=HANDLER)
def record(session: Session, event: Event) -> None:
    with Path(event.data["log"]).open("a", encoding="utf-8") as log:
        log.write(f"{event.id}\n")
