"""Alembic migrations, shipped inside the package so an installed Mercato can migrate itself.

Mercato's revisions are one linear history (``versions/``); each installed plugin that ships
migrations adds its own versions directory, a branch of its own (labelled with the plugin's
name, its first revision ``depends_on`` the Mercato revision it needs). So the schema has
several heads: ``upgrade`` goes to all of them, and the database is migrated when its
revisions are exactly ``head_revisions()``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from mercato.core.db import normalize_url

HERE = Path(__file__).parent


SEARCH_INDEX_OBJECTS = frozenset({"product_search_fts", "tsv", "ix_product_search_tsv"})


def include_object(obj: object, name: str | None, type_: str, reflected: bool,
                   compare_to: object) -> bool:
    """Autogenerate ignores the full-text index that migration 0003 builds by hand (an FTS5
    table on SQLite, a generated tsvector on PostgreSQL): it is not in the models."""
    if name is None:
        return True
    return name not in SEARCH_INDEX_OBJECTS and not name.startswith("product_search_fts_")


class PluginMigrationsError(RuntimeError):
    """An installed plugin's migrations do not load as its own branch: migrating (and
    readiness) stops there, naming the plugin, rather than half-applying a schema."""


def plugin_locations() -> tuple[Path, ...]:
    """The installed plugins' versions directories (sorted by plugin name), each checked to
    load as a branch labelled with its plugin's name (``PluginMigrationsError`` otherwise)."""
    from mercato.plugins import migration_locations

    found = sorted(migration_locations().items())
    for name, path in found:
        _check_branch(name, path)
    return tuple(path for _, path in found)


@lru_cache(maxsize=32)
def _check_branch(name: str, path: Path) -> None:
    try:
        script = ScriptDirectory.from_config(_config("sqlite://", (HERE / "versions", path)))
        script.get_revision(f"{name}@head")
    except Exception as exc:
        raise PluginMigrationsError(
            f"plugin {name!r}: its migrations ({path}) do not load as a branch labelled "
            f"{name!r} after Mercato's: {type(exc).__name__}: {exc}") from exc


def alembic_config(url: str, *, plugins: bool = True) -> Config:
    """Mercato's Alembic configuration; with ``plugins``, its version locations include every
    installed plugin's versions directory."""
    return _config(url, (HERE / "versions", *(plugin_locations() if plugins else ())))


def _config(url: str, locations: tuple[Path, ...]) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(
        str(path).replace("%", "%%") for path in locations))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Upgrade to ``revision``: by default every head (Mercato's and each plugin's branch)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """Mercato's own head (its linear history, without the plugins' branches)."""
    return ScriptDirectory.from_config(
        alembic_config("sqlite://", plugins=False)).get_current_head()


def head_revisions() -> frozenset[str]:
    """The revisions a fully migrated database holds: Mercato's head and each installed
    plugin's branch head. A head that another branch ``depends_on`` (Mercato's, when the
    newest plugin revision needs it) is not stored apart: Alembic records only the revision
    that depends on it, so it is left out here too."""
    return _heads(plugin_locations())


@lru_cache(maxsize=8)
def _heads(locations: tuple[Path, ...]) -> frozenset[str]:
    # keyed by the plugins' locations: a test that installs a plugin sees its head
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = set(script.get_heads())
    below = {revision.revision for head in heads  # ancestors, dependencies included
             for revision in script.iterate_revisions(head, "base") if revision.revision != head}
    return frozenset(heads - below)


def current_revision(conn: Connection) -> str | None:
    """The database's revision when it has one head (raises when it has several)."""
    return MigrationContext.configure(conn).get_current_revision()


def current_revisions(conn: Connection) -> frozenset[str]:
    """The database's revisions: one per branch it has (Mercato's, each plugin's)."""
    return frozenset(MigrationContext.configure(conn).get_current_heads())
