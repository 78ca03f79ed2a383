"""Alembic environment: runs migrations on the URL from ``mercato.migrations.alembic_config``.

That configuration's ``version_locations`` are Mercato's ``versions/`` and every installed
plugin's versions directory (each plugin its own branch); ``target_metadata`` is Mercato's
models plus those of any plugin whose models were imported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import mercato.models  # noqa: F401 - registers every table on Base.metadata
from mercato.core.db import Base
from mercato.migrations import include_object

config = context.config
target_metadata = Base.metadata


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # many processes may start at once (serve --workers N): one migrates, others wait
            connection.exec_driver_sql("SELECT pg_advisory_lock(7295001)")
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=target_metadata,
                              render_as_batch=connection.dialect.name == "sqlite",
                              compare_type=True, include_object=include_object)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SELECT pg_advisory_unlock(7295001)")
                connection.commit()
    engine.dispose()


run()
