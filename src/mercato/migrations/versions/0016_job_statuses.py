"""Import and sync job statuses fit ``completed_with_errors``.

A job that reached the end with rows (or items) it could not apply no longer ends
``succeeded``; its status says so, and the old 16 characters could not hold it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("import_jobs", "channel_sync_jobs")


def _system_scope() -> None:
    """Row-level security hides every organization's rows unless the transaction is system
    work; the downgrade rewrites all of them."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT set_config('mercato.organization_id', '*', true)")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('status', existing_type=sa.String(length=16),
                                  type_=sa.String(length=32), existing_nullable=False)


def downgrade() -> None:
    _system_scope()
    for table in TABLES:  # the old columns cannot hold it: what it meant before
        jobs = sa.table(table, sa.column("status", sa.String))
        op.execute(jobs.update().where(jobs.c.status == "completed_with_errors")
                   .values(status="succeeded"))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('status', existing_type=sa.String(length=32),
                                  type_=sa.String(length=16), existing_nullable=False)
