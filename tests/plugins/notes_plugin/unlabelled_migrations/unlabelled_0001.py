"""A revision a plugin forgot to label with its name: it would join Mercato's own history.

Revision ID: unlabelled_0001
Revises: 0035
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = 'unlabelled_0001'
down_revision: str | None = '0035'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
