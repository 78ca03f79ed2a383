"""Digital delivery's API shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["key_pool", "download", "email", "webhook", "manual"]
DeliveryStatus = Literal["pending", "delivered", "failed"]


class GoodIn(BaseModel):
    """How a digital variant is delivered once its order is paid."""

    model_config = ConfigDict(extra="forbid")
    method: Method = Field(description="`key_pool`: one licence key per unit from the pool; "
                           "`download`: signed links to the variant's files; `email`: the "
                           "message below, emailed; `webhook`: a POST to `webhook_url`; "
                           "`manual`: staff deliver and mark it delivered.")
    webhook_url: str | None = Field(default=None, max_length=2000)
    message: str = Field(default="", max_length=5000,
                         description="Sent in the buyer's delivery email.")
    low_pool_threshold: int = Field(default=5, ge=0, le=1_000_000,
                                    description="`digital.key_pool_low` when the remaining "
                                                "keys fall to this many.")
    alert_email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$",
                                    description="Staff address emailed when the pool is low.")
    link_ttl_seconds: int = Field(default=86400, ge=60, le=90 * 86400,
                                  description="How long a download link works.")


class GoodOut(GoodIn):
    model_config = ConfigDict(from_attributes=True)
    variant_id: str


class KeysIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    keys: list[str] = Field(min_length=1, max_length=10_000,
                            description="Licence keys to add to the pool.")


class PoolOut(BaseModel):
    variant_id: str
    total: int
    drawn: int
    remaining: int


class KeyUploadOut(BaseModel):
    added: int
    duplicates: list[dict[str, Any]] = Field(
        description="Keys refused, by their position in the upload, and why.")
    pool: PoolOut


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    variant_id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: dt.datetime


class DeliveryOut(BaseModel):
    """A paid order line's delivery, as staff see it (never its keys)."""

    model_config = ConfigDict(from_attributes=True)
    id: str
    order_id: str
    order_line_id: str
    variant_id: str
    sku: str
    title: str
    quantity: int
    method: Method
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime


class MarkDeliveredIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=2000)


class DownloadLink(BaseModel):
    file_id: str
    filename: str
    size: int
    url: str
    expires_at: dt.datetime


class ShopperDeliveryOut(BaseModel):
    """A delivery as its buyer sees it: status, the keys drawn for it, fresh download links."""

    id: str
    order_line_id: str
    sku: str
    title: str
    quantity: int
    method: Method
    status: DeliveryStatus
    delivered_at: dt.datetime | None
    keys: list[str]
    downloads: list[DownloadLink]


class ShopperDeliveries(BaseModel):
    data: list[ShopperDeliveryOut]
