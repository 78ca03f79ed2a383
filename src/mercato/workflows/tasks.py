"""The worker's part: scheduled workflows started when due, and executions run on a loop of
their own (a webhook step waits on the network; event delivery must not wait on it)."""

from __future__ import annotations

import threading

import structlog

from mercato.core.db import Database
from mercato.core.outbox import background, periodic
from mercato.settings import get_settings
from mercato.workflows.service import run_due, schedule_due

log = structlog.get_logger("mercato.workflows")
IDLE_SECONDS = 1.0


@periodic(every_seconds=15, name="workflows.schedule")
def start_scheduled(db: Database) -> None:
    """A daily or every-N-minutes workflow starts within 15 s of its time."""
    schedule_due(db)


@background(name="workflows")
def execution_loop(db: Database, stop: threading.Event) -> None:
    settings = get_settings()
    while not stop.is_set():
        try:
            claimed = run_due(db, settings)
        except Exception:
            log.exception("workflow_loop_failed")
            claimed = 0
        if claimed == 0:
            stop.wait(IDLE_SECONDS)
