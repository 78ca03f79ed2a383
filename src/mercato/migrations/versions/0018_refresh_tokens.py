"""Staff sign-ins and their rotating refresh tokens; idempotent answers that carry a secret are
stored sealed.

``staff_sign_ins`` is one password sign-in (a family of refresh tokens); ``refresh_tokens`` keeps
each token as the hash of its secret. ``idempotency_keys.sealed`` marks a stored answer that is
encrypted because it carries a token or key.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('staff_sign_ins',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('staff_id', sa.String(length=26), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=20), nullable=True),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_staff_sign_ins_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_staff_sign_ins_staff_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_sign_ins'))
    )
    with op.batch_alter_table('staff_sign_ins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_sign_ins_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_staff_sign_ins_staff_id'), ['staff_id'], unique=False)
    enable_tenant_rls('staff_sign_ins')

    op.create_table('refresh_tokens',
    sa.Column('id', sa.String(length=26), nullable=False),
    sa.Column('sign_in_id', sa.String(length=26), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', mercato.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', mercato.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('organization_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_refresh_tokens_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sign_in_id'], ['staff_sign_ins.id'], name=op.f('fk_refresh_tokens_sign_in_id_staff_sign_ins'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens'))
    )
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_tokens_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refresh_tokens_sign_in_id'), ['sign_in_id'], unique=False)
    enable_tenant_rls('refresh_tokens')

    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sealed', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_column('sealed')

    disable_tenant_rls('refresh_tokens')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_sign_in_id'))
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_organization_id'))
    op.drop_table('refresh_tokens')

    disable_tenant_rls('staff_sign_ins')
    with op.batch_alter_table('staff_sign_ins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_sign_ins_staff_id'))
        batch_op.drop_index(batch_op.f('ix_staff_sign_ins_organization_id'))
    op.drop_table('staff_sign_ins')
