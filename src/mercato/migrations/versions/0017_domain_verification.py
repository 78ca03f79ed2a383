"""Custom domains route only once verified; a claim no longer blocks other organizations.

``organization_domains`` gets a per-claim ``token``, ``verified_at`` and ``verified_by``. The
global unique constraint on ``domain`` becomes a partial unique index over verified rows, plus
one claim per organization and name. Domains mapped before this revision were never proved: they
become pending claims with a fresh token (verify them with ``POST
/api/v1/organization/domains/{id}/verify`` or ``mercato org domain verify``). Downgrading deletes
pending claims, since every row routes again under the old schema.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from mercato.core.db import UTCDateTime

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERIFIED = sa.text('verified_at IS NOT NULL')


def _system_scope() -> None:
    """Row-level security hides every organization's rows unless the transaction is system
    work: these statements touch all of them."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT set_config('mercato.organization_id', '*', true)")


def upgrade() -> None:
    with op.batch_alter_table('organization_domains', schema=None) as batch_op:
        batch_op.add_column(sa.Column('token', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('verified_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verified_by', sa.String(length=20), nullable=True))
    _system_scope()
    bind = op.get_bind()
    ids = bind.execute(sa.text("SELECT id FROM organization_domains")).scalars().all()
    for row_id in ids:
        bind.execute(sa.text("UPDATE organization_domains SET token = :token WHERE id = :id"),
                     {"token": secrets.token_urlsafe(24), "id": row_id})
    with op.batch_alter_table('organization_domains', schema=None) as batch_op:
        batch_op.alter_column('token', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint('uq_organization_domains_domain', type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_organization_domains_organization_id_domain'),
            ['organization_id', 'domain'])
    op.create_index('uq_organization_domains_verified_domain', 'organization_domains',
                    ['domain'], unique=True, sqlite_where=VERIFIED, postgresql_where=VERIFIED)


def downgrade() -> None:
    _system_scope()
    op.execute("DELETE FROM organization_domains WHERE verified_at IS NULL")
    op.drop_index('uq_organization_domains_verified_domain', table_name='organization_domains',
                  sqlite_where=VERIFIED, postgresql_where=VERIFIED)
    with op.batch_alter_table('organization_domains', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_organization_domains_organization_id_domain'),
                                 type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_organization_domains_domain'),
                                          ['domain'])
        batch_op.drop_column('verified_by')
        batch_op.drop_column('verified_at')
        batch_op.drop_column('token')
