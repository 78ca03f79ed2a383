"""Secrets at rest: what earlier releases stored in plain text goes.

From this release every stored idempotent answer is sealed, and so are the bodies of emails
that carry a one-time token (``core.secrets``). What was stored before:

- ``idempotency_keys`` rows not sealed (new API keys, tokens, gift-card codes among them) are
  deleted. Keys are scoped per credential from this release on, so no request could have its
  answer replayed from them anyway.
- ``password_reset`` and ``verify_email`` emails whose bodies are not sealed keep their metadata
  and lose their bodies (a note says why); those still pending are ``skipped``. Their tokens
  expire within an hour (reset) or three days (verification): a shopper asks for a new link.

No schema change; the downgrade restores nothing.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 13:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEALED = "sealed:"  # mercato.notifications.service.SEALED
REDACTED = ("(Not kept: this email carried a one-time link, which Mercato no longer stores "
            "in plain text.)")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # system work: every organization's rows
        bind.exec_driver_sql("SELECT set_config('mercato.organization_id', '*', true)")
    bind.execute(sa.text("DELETE FROM idempotency_keys WHERE sealed = :no"), {"no": False})
    plain = ("kind IN ('password_reset', 'verify_email') "
             "AND body_text NOT LIKE 'sealed:%' ")
    bind.execute(sa.text(
        f"UPDATE notifications SET status = 'skipped', last_error = :why, "  # noqa: S608
        f"lease_owner = NULL, lease_until = NULL WHERE {plain} AND status = 'pending'"),
        {"why": "Its link was stored in plain text before 0021; ask for a new one."})
    bind.execute(sa.text(
        f"UPDATE notifications SET body_text = :text, body_html = :html "  # noqa: S608
        f"WHERE {plain}"),
        {"text": REDACTED, "html": f"<p>{REDACTED}</p>"})


def downgrade() -> None:
    pass
