"""Alembic migrations, shipped inside the package so an installed Mercato can migrate itself."""

from __future__ import annotations

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


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()
