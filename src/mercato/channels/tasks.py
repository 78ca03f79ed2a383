"""Channel work the worker runs on its own thread: inventory pushes, sync jobs, schedules.

It waits on the platforms (their answers, their rate limits), so it runs beside the event
dispatcher instead of inside it: a slow Shopify never delays event delivery or the
availability publisher. Pushes go first and often; jobs get short slices in between.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import structlog

from mercato.channels import jobs, push
from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.outbox import background
from mercato.settings import get_settings

log = structlog.get_logger("mercato.channels")
RUNNER = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
SCHEDULE_EVERY = 5.0
JOB_SLICE = 2.0
PUSH_SLICE = 1.0


@background(name="channels")
def channel_loop(db: Database, stop: threading.Event) -> None:
    interval = get_settings().channel_push_interval_seconds
    scheduled = 0.0
    while not stop.is_set():
        work = 0
        try:
            work += push.push_due(db, RUNNER, budget=PUSH_SLICE)
            if time.monotonic() - scheduled >= SCHEDULE_EVERY:
                scheduled = time.monotonic()
                jobs.schedule_due(db)
            work += jobs.run_due(db, RUNNER, budget=JOB_SLICE)
        except Exception:
            log.exception("channel_loop_failed")
        if work == 0:
            stop.wait(interval)
