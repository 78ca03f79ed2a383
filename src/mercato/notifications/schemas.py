"""HTTP shapes of the notifications record."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["order_placed", "order_paid", "order_shipped", "password_reset", "verify_email",
               "workflow", "digital_delivery", "key_pool_low"]
Status = Literal["pending", "sent", "failed", "skipped"]


class NotificationSummary(BaseModel):
    """An email's metadata: never its body."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: Kind
    recipient: str
    subject: str
    status: Status = Field(description=(
        "`pending` (waiting or retrying), `sent`, `failed` (gave up), `skipped` (no SMTP "
        "server configured)."))
    attempts: int = Field(description="SMTP sends tried so far.")
    last_error: str | None
    reference: str = Field(description="What it is about, e.g. `order:<id>`; unique per kind.")
    customer_id: str | None
    message_id: str | None = Field(description="The Message-ID header of the last send.")
    next_attempt_at: dt.datetime | None = Field(description="When a pending email is due.")
    created_at: dt.datetime
    sent_at: dt.datetime | None


class NotificationOut(NotificationSummary):
    body_text: str | None = Field(description="The text part; null for `password_reset` and "
                                  "`verify_email` (they carry a one-time token).")
    body_html: str | None = Field(description="The HTML part; null for `password_reset` and "
                                  "`verify_email`.")
