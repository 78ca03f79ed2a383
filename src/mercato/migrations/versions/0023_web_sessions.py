"""Browser sessions of the admin: a staff sign-in may be held by a cookie.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_sign_ins") as batch:
        batch.add_column(sa.Column("web_secret_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_sign_ins") as batch:
        batch.drop_column("web_secret_hash")
