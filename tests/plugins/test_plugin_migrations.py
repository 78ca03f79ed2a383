"""A plugin's migrations: its own Alembic branch, applied with Mercato's by ``migrate``.

The test-notes plugin (``tests/plugins/notes_plugin``) ships one revision creating a tenant
table; it is installed for real (an entry point in a distribution on ``sys.path``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import Table, create_engine, inspect, pool, text

import mercato.models  # noqa: F401 - registers every table
from mercato.app import create_app
from mercato.core.db import Base, Database
from mercato.migrations import (
    PluginMigrationsError,
    current_revisions,
    downgrade,
    head_revision,
    head_revisions,
    include_object,
    upgrade,
)
from mercato.plugins import installed, migration_locations
from tests.conftest import drop_pg_database, make_settings, new_database_url
from tests.plugins.conftest import install

NOTES = """\
[mercato.plugins]
test-notes = tests.plugins.notes_plugin:manifest
test-lost-notes = tests.plugins.notes_plugin:missing_migrations
"""
PLUGIN_HEAD = "test_notes_0001"


@pytest.fixture
def notes_plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Table]:
    """The plugin installed and its model's table on ``Base.metadata``; after, uninstalled
    and its table taken off the metadata again, so every other test's metadata is Mercato's
    own (tests/test_migrations.py, tests/tenancy)."""
    models = importlib.import_module("tests.plugins.notes_plugin.models")
    table = models.PluginNote.__table__
    assert isinstance(table, Table)
    if table.key not in Base.metadata.tables:  # imported by an earlier test, then taken off
        Base.metadata._add_table(table.name, table.schema, table)
    try:
        with install(tmp_path_factory.mktemp("site"), "mercato-test-notes", NOTES):
            yield table
    finally:
        Base.metadata.remove(table)


@pytest.fixture
def url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh database, migrated with whatever plugins are installed now."""
    value = new_database_url(backend, tmp_path)
    yield value
    if backend == "postgresql":
        drop_pg_database(value)


def _state(url: str) -> tuple[frozenset[str], set[str]]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return current_revisions(conn), set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _diff(url: str) -> list[object]:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_object})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_a_plugin_whose_migrations_directory_is_missing_is_skipped(notes_plugin: Table) -> None:
    assert "test-notes" in installed()
    assert "test-lost-notes" not in installed()
    assert set(migration_locations()) == {"test-notes"}


def test_migrate_creates_the_plugins_table_on_its_own_branch(notes_plugin: Table,
                                                              url: str) -> None:
    revisions, tables = _state(url)
    assert "test_plugin_notes" in tables
    # the plugin's revision depends on Mercato's head: Alembic records only the plugin's
    assert head_revisions() == {PLUGIN_HEAD}
    assert revisions == head_revisions()
    assert _diff(url) == []  # the plugin's model == its migration, with Mercato's own


def test_a_second_migrate_changes_nothing(notes_plugin: Table, url: str) -> None:
    before = _state(url)
    upgrade(url)
    assert _state(url) == before


def test_on_postgresql_the_plugins_tenant_table_is_under_forced_rls(notes_plugin: Table,
                                                                    url: str) -> None:
    if not url.startswith("postgresql"):
        pytest.skip("row-level security is PostgreSQL's")
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            rls = conn.execute(text(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relname = 'test_plugin_notes'")).one()
            assert tuple(rls) == (True, True)
            conn.execute(text("SELECT set_config('mercato.organization_id', '*', true)"))
            conn.execute(text("INSERT INTO organizations (id, slug, name, created_at, "
                              "updated_at, version) VALUES ('o1', 'o1', 'O', now(), now(), 1),"
                              " ('o2', 'o2', 'P', now(), now(), 1)"))
            conn.execute(text("INSERT INTO test_plugin_notes (id, body, organization_id) "
                              "VALUES ('n1', 'mine', 'o1'), ('n2', 'theirs', 'o2')"))
        with engine.begin() as conn:  # Mercato's role is no superuser: the policy binds it
            conn.execute(text("SELECT set_config('mercato.organization_id', 'o1', true)"))
            seen = conn.scalars(text("SELECT body FROM test_plugin_notes")).all()
        assert seen == ["mine"]
    finally:
        engine.dispose()


def test_downgrading_the_plugins_branch_drops_its_tables_only_and_lets_it_be_uninstalled(
    backend: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with install(tmp_path_factory.mktemp("site"), "mercato-test-notes", NOTES):
        url = new_database_url(backend, tmp_path)
    try:
        with install(tmp_path_factory.mktemp("site"), "mercato-test-notes", NOTES):
            downgrade(url, "test-notes@base")
            revisions, tables = _state(url)
            assert revisions == {head_revision()}
            assert "test_plugin_notes" not in tables
            assert "organizations" in tables
        upgrade(url)  # uninstalled now: Mercato alone migrates, nothing to do
        assert _state(url) == (revisions, tables)
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


def test_a_database_without_the_plugin_still_migrates(backend: str, tmp_path: Path) -> None:
    assert migration_locations() == {}
    url = new_database_url(backend, tmp_path)
    try:
        revisions, tables = _state(url)
        assert revisions == head_revisions() == {head_revision()}
        assert "test_plugin_notes" not in tables
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


def test_installing_the_plugin_makes_ready_wait_for_its_migration(
    backend: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    url = new_database_url(backend, tmp_path)  # migrated before the plugin is installed
    db = Database(url, pool_size=1)
    try:
        with install(tmp_path_factory.mktemp("site"), "mercato-test-notes", NOTES):
            with TestClient(create_app(make_settings(url), db)) as client:
                waiting = client.get("/ready")
                assert waiting.status_code == 503, waiting.text
                assert PLUGIN_HEAD in waiting.json()["detail"]
                upgrade(url)
                ready = client.get("/ready")
                assert ready.status_code == 200, ready.text
                assert ready.json()["schema"] == head_revision()
                assert ready.json()["heads"] == [PLUGIN_HEAD]
            assert "test_plugin_notes" in _state(url)[1]
    finally:
        db.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


def test_a_plugin_whose_revisions_are_not_its_own_branch_stops_migrate_and_ready(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    url = new_database_url("sqlite", tmp_path)
    db = Database(url, pool_size=1)
    entry = "[mercato.plugins]\ntest-unlabelled = tests.plugins.notes_plugin:unlabelled\n"
    try:
        with install(tmp_path_factory.mktemp("site"), "mercato-test-unlabelled", entry):
            with pytest.raises(PluginMigrationsError, match="test-unlabelled"):
                upgrade(url)
            with TestClient(create_app(make_settings(url), db)) as client:
                ready = client.get("/ready")
            assert ready.status_code == 503, ready.text
            assert "test-unlabelled" in ready.json()["detail"]
        assert _state(url)[0] == {head_revision()}  # nothing was applied
    finally:
        db.dispose()
