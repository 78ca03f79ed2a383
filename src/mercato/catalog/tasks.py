"""Catalog work the worker runs: CSV imports."""

from __future__ import annotations

from mercato.catalog.imports import claim_job, run_job
from mercato.core.db import Database
from mercato.core.outbox import periodic


@periodic(every_seconds=1, name="catalog.run_imports")
def run_imports(db: Database) -> None:
    """Apply the oldest waiting import (or one whose runner died) to the end."""
    job_id = claim_job(db)
    if job_id is not None:
        run_job(db, job_id)
