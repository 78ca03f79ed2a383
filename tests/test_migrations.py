"""Migrations build exactly the schema the models describe, on both databases, and reverse."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool

import mercato.models  # noqa: F401 - registers every table
from mercato.core.db import Base
from mercato.migrations import downgrade, include_object, upgrade
from tests.conftest import drop_pg_database, new_database_url


def _diff(url: str) -> list[object]:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return list(diff)


def test_migrated_schema_matches_the_models(backend: str, tmp_path: Path) -> None:
    url = new_database_url(backend, tmp_path)
    try:
        assert _diff(url) == []
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


def test_migrations_downgrade_to_nothing_and_upgrade_again(backend: str, tmp_path: Path) -> None:
    url = new_database_url(backend, tmp_path)
    try:
        downgrade(url, "base")
        engine = create_engine(url, poolclass=pool.NullPool)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        upgrade(url)
        assert _diff(url) == []
    finally:
        if backend == "postgresql":
            drop_pg_database(url)
