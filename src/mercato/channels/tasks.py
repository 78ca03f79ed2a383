"""Channel work the worker runs: scheduled jobs, due jobs, inventory pushes."""

from __future__ import annotations

import os
import socket

from mercato.channels import jobs, push
from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.outbox import periodic
from mercato.settings import get_settings

RUNNER = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"


@periodic(every_seconds=get_settings().channel_push_interval_seconds,
          name="channels.push_inventory")
def push_inventory(db: Database) -> None:
    """Send wanted quantities to the platforms (a short slice: it shares the worker)."""
    push.push_due(db, RUNNER, budget=2.0)


@periodic(every_seconds=1, name="channels.run_jobs")
def run_jobs(db: Database) -> None:
    jobs.run_due(db, RUNNER, budget=5.0)


@periodic(every_seconds=5, name="channels.schedule_jobs")
def schedule_jobs(db: Database) -> None:
    jobs.schedule_due(db)
