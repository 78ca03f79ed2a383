"""Catalog work the worker runs: CSV imports, planner statistics."""

from __future__ import annotations

from mercato.catalog.imports import claim_job, refresh_statistics, run_job
from mercato.core.db import Database
from mercato.core.outbox import periodic


@periodic(every_seconds=1, name="catalog.run_imports")
def run_imports(db: Database) -> None:
    """Apply the oldest waiting import (or one whose runner died) to the end."""
    job_id = claim_job(db)
    if job_id is not None:
        run_job(db, job_id)


@periodic(every_seconds=3600, name="catalog.refresh_statistics")
def refresh_catalog_statistics(db: Database) -> None:
    """Catalogs also grow through the API and the channels, one product at a time; SQLite has
    no autovacuum to notice, and PostgreSQL's may be off."""
    refresh_statistics(db)
