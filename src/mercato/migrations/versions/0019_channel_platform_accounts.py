"""One connection per platform account; refused webhook signatures in a connection's health;
whether a sales channel emails its buyers.

``channel_connections`` was unique on (organization, kind, account): a BinderPOS connection
(BinderPOS runs on a Shopify store) could take the shop of a working Shopify connection, and
from then on every webhook of that shop was checked against whichever of the two the lookup
found first. The new ``platform`` column (``shopify`` for both kinds) carries the rule instead:
unique (organization, platform, account), with the account normalised (lowercase host, no
scheme or path).

Existing rows that would break the new rule: within each (organization, platform, normalised
account), one connection keeps the account, chosen as the one that still works — enabled
first, then the most recent successful call, then the oldest. Each other one is **kept, not
deleted** (its credentials, mappings and job history stay), but disabled, its account set to
``<account>#duplicate-<id>`` so that it no longer claims the shop, and its ``last_error`` says
why and which channel holds the shop. Webhooks of that shop then reach the one that kept it.
The owner can delete the duplicate or point it at another account; giving it the held account
back is a 409. Downgrading takes the suffix off again where the old key (organization,
kind, account) allows it; the rows stay disabled.

``sales_channels.email_buyers``: whether Mercato emails the buyers of the channel's orders
(placed, paid, shipped). Existing channels get the default of their kind: on for ``web``,
``pos``, ``manual`` and ``other``, off for platforms that email their buyers themselves.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import mercato.core.db

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLATFORM_OF = {"binderpos": "shopify"}
PLATFORM_KINDS = ("shopify", "tcgplayer", "ebay", "amazon", "shopee", "tiktok", "binderpos")
MARK = "#duplicate-"


def _system_scope() -> None:
    """Row-level security hides every organization's rows unless the transaction is system
    work: this migration reads and fixes all of them."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT set_config('mercato.organization_id', '*', true)")


def normalise(account: str) -> str:
    host = account.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme):]
    return host.split("/", 1)[0].rstrip(".").lower()


def _keeper_first(row: Any) -> tuple[Any, ...]:
    never = dt.datetime.min.replace(tzinfo=dt.UTC)
    success = row.last_success_at or never
    if success.tzinfo is None:
        success = success.replace(tzinfo=dt.UTC)
    return (not row.enabled, -success.timestamp(), str(row.created_at), row.id)


def upgrade() -> None:
    with op.batch_alter_table('channel_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('platform', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('signature_failures', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('last_signature_failure_at',
                                      mercato.core.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('last_webhook_at',
                                      mercato.core.db.UTCDateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('sales_channels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_buyers', sa.Boolean(), nullable=True))
    _system_scope()
    bind = op.get_bind()
    connections = sa.table(
        'channel_connections', sa.column('id', sa.String), sa.column('organization_id'),
        sa.column('channel_id'), sa.column('kind'), sa.column('platform'),
        sa.column('account'), sa.column('enabled', sa.Boolean), sa.column('created_at'),
        sa.column('last_success_at', mercato.core.db.UTCDateTime(timezone=True)),
        sa.column('last_error'), sa.column('last_error_at'), sa.column('last_error_kind'))
    rows = bind.execute(sa.select(connections)).all()
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for row in rows:
        platform = PLATFORM_OF.get(row.kind, row.kind)
        groups.setdefault((row.organization_id, platform, normalise(row.account)),
                          []).append(row)
    now = dt.datetime.now(dt.UTC)
    for (_, platform, account), members in groups.items():
        keeper, *others = sorted(members, key=_keeper_first)
        for other in others:  # first, so the keeper's new account is free under either key
            bind.execute(connections.update().where(connections.c.id == other.id).values(
                platform=platform, account=f"{account[:255 - len(MARK) - 26]}{MARK}{other.id}",
                enabled=False, last_error_at=now, last_error_kind="validation",
                last_error=(f"Disabled when connections became unique per platform account: "
                            f"{account} is connected to channel {keeper.channel_id} "
                            f"({keeper.kind}). Delete this connection or give it another "
                            "account.")))
        bind.execute(connections.update().where(connections.c.id == keeper.id)
                     .values(platform=platform, account=account))
    sales_channels = sa.table('sales_channels', sa.column('kind'),
                              sa.column('email_buyers', sa.Boolean))
    bind.execute(sales_channels.update().values(
        email_buyers=sa.not_(sales_channels.c.kind.in_(PLATFORM_KINDS))))
    with op.batch_alter_table('sales_channels', schema=None) as batch_op:
        batch_op.alter_column('email_buyers', existing_type=sa.Boolean(), nullable=False)
    with op.batch_alter_table('channel_connections', schema=None) as batch_op:
        batch_op.alter_column('platform', existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column('signature_failures', existing_type=sa.Integer(),
                              server_default=None)
        batch_op.drop_constraint('uq_channel_connections_organization_id_kind_account',
                                 type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_channel_connections_organization_id_platform_account'),
            ['organization_id', 'platform', 'account'])


def downgrade() -> None:
    with op.batch_alter_table('channel_connections', schema=None) as batch_op:
        batch_op.drop_constraint('uq_channel_connections_organization_id_platform_account',
                                 type_='unique')
        batch_op.create_unique_constraint(
            batch_op.f('uq_channel_connections_organization_id_kind_account'),
            ['organization_id', 'kind', 'account'])
    _system_scope()
    bind = op.get_bind()
    connections = sa.table('channel_connections', sa.column('id', sa.String),
                           sa.column('organization_id', sa.String),
                           sa.column('kind', sa.String), sa.column('account', sa.String))
    rows = bind.execute(sa.select(connections)).all()
    held = {(r.organization_id, r.kind, r.account) for r in rows}
    for row in rows:
        if MARK not in row.account:
            continue
        account = row.account.split(MARK, 1)[0]
        if (row.organization_id, row.kind, account) in held:
            continue  # the same kind holds it: this one keeps its mark
        held.add((row.organization_id, row.kind, account))
        bind.execute(connections.update().where(connections.c.id == row.id)
                     .values(account=account))
    with op.batch_alter_table('channel_connections', schema=None) as batch_op:
        batch_op.drop_column('last_webhook_at')
        batch_op.drop_column('last_signature_failure_at')
        batch_op.drop_column('signature_failures')
        batch_op.drop_column('platform')
    with op.batch_alter_table('sales_channels', schema=None) as batch_op:
        batch_op.drop_column('email_buyers')
