"""HTTP shapes of transfers and cycle counts."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mercato.inventory.schemas import MAX_LINES, MAX_UNITS

TransferStatus = Literal["in_transit", "partially_received", "received", "cancelled"]
CountStatus = Literal["open", "applied", "cancelled"]
CountReason = Literal["count", "damage", "adjustment"]


class TransferLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=MAX_UNITS)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_location: str = Field(min_length=1, max_length=50, description="Location id or code.")
    to_location: str = Field(min_length=1, max_length=50, description="Location id or code.")
    lines: list[TransferLineIn] = Field(min_length=1, max_length=MAX_LINES)
    note: str | None = Field(default=None, max_length=2000)


class ReceiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[TransferLineIn] | None = Field(
        default=None, min_length=1, max_length=MAX_LINES,
        description="What arrived; omitted, everything still in transit.")


class TransferLineOut(BaseModel):
    sku: str
    variant_id: str
    quantity: int
    received: int
    in_transit: int = Field(description="quantity - received; 0 once cancelled.")


class TransferOut(BaseModel):
    id: str
    from_location_id: str
    to_location_id: str
    status: TransferStatus
    note: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    lines: list[TransferLineOut]


class CountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: str = Field(min_length=1, max_length=50, description="Location id or code.")
    skus: list[str] | None = Field(
        default=None, min_length=1, max_length=MAX_LINES,
        description="SKUs to count; omitted, every SKU with stock recorded at the location.")
    note: str | None = Field(default=None, max_length=2000)


class CountedLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    counted: int = Field(ge=0, le=MAX_UNITS)


class CountedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[CountedLineIn] = Field(min_length=1, max_length=MAX_LINES)


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: CountReason = "count"
    note: str | None = Field(default=None, max_length=2000)


class CountLineOut(BaseModel):
    sku: str
    variant_id: str
    expected: int = Field(description="On hand when the line was put on the sheet.")
    counted: int | None
    variance: int | None = Field(description="counted - expected; null until counted.")


class CountOut(BaseModel):
    id: str
    location_id: str
    status: CountStatus
    note: str | None
    created_at: dt.datetime
    applied_at: dt.datetime | None
    lines: list[CountLineOut]
