"""Foundation: organizations, identity, audit log, idempotency keys, the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 16:01:43.169598
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mercato.core.db
from mercato.migrations.helpers import disable_tenant_rls, enable_tenant_rls

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT_TABLES = (
    "organization_domains",
    "staff_users",
    "api_keys",
    "audit_entries",
    "outbox_events",
    "outbox_deliveries",
)


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_idempotency_keys_scope_key")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "login_failures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("created_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failures_client"), ["client"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_login_failures_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_login_failures_email"), ["email"], unique=False)

    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
        sa.UniqueConstraint("slug", name=op.f("uq_organizations_slug")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "scopes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by_id", sa.String(length=26), nullable=True),
        sa.Column("created_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", mercato.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", mercato.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("organization_id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_api_keys_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_keys_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "audit_entries",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=26), nullable=True),
        sa.Column("actor_label", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("resource_type", sa.String(length=100), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=False),
        sa.Column(
            "before",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "after",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_audit_entries_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_entries_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(
            "ix_audit_entries_resource",
            ["organization_id", "resource_type", "resource_id"],
            unique=False,
        )

    op.create_table(
        "organization_domains",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("created_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_organization_domains_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization_domains")),
        sa.UniqueConstraint("domain", name=op.f("uq_organization_domains_domain")),
    )
    with op.batch_alter_table("organization_domains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organization_domains_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "outbox_events",
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("resource_type", sa.String(length=100), nullable=False),
        sa.Column("resource_id", sa.String(length=100), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("organization_id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_outbox_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_outbox_events")),
        sa.UniqueConstraint("id", name=op.f("uq_outbox_events_id")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_events_organization_id"), ["organization_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_events_type"), ["type"], unique=False)

    op.create_table(
        "staff_users",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("invite_token_hash", sa.String(length=64), nullable=True),
        sa.Column("invite_expires_at", mercato.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_staff_users_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint(
            "organization_id", "email", name=op.f("uq_staff_users_organization_id_email")
        ),
    )
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_users_organization_id"), ["organization_id"], unique=False
        )

    op.create_table(
        "outbox_deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_position", sa.BigInteger(), nullable=False),
        sa.Column("handler", sa.String(length=200), nullable=False),
        sa.Column("resource_key", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", mercato.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", mercato.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", mercato.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("organization_id", sa.String(length=26), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_position"],
            ["outbox_events.position"],
            name=op.f("fk_outbox_deliveries_event_position_outbox_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_outbox_deliveries_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_deliveries")),
    )
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_deliveries_chain", ["handler", "resource_key", "status", "id"], unique=False
        )
        batch_op.create_index("ix_outbox_deliveries_due", ["status", "available_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_deliveries_event_position"), ["event_position"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_deliveries_organization_id"), ["organization_id"], unique=False
        )

    for table in TENANT_TABLES:
        enable_tenant_rls(table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(table)
    with op.batch_alter_table("outbox_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_deliveries_organization_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_deliveries_event_position"))
        batch_op.drop_index("ix_outbox_deliveries_due")
        batch_op.drop_index("ix_outbox_deliveries_chain")

    op.drop_table("outbox_deliveries")
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_users_organization_id"))

    op.drop_table("staff_users")
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_type"))
        batch_op.drop_index(batch_op.f("ix_outbox_events_organization_id"))

    op.drop_table("outbox_events")
    with op.batch_alter_table("organization_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organization_domains_organization_id"))

    op.drop_table("organization_domains")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_resource")
        batch_op.drop_index(batch_op.f("ix_audit_entries_organization_id"))

    op.drop_table("audit_entries")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_organization_id"))

    op.drop_table("api_keys")
    op.drop_table("organizations")
    with op.batch_alter_table("login_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failures_email"))
        batch_op.drop_index(batch_op.f("ix_login_failures_created_at"))
        batch_op.drop_index(batch_op.f("ix_login_failures_client"))

    op.drop_table("login_failures")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))

    op.drop_table("idempotency_keys")
