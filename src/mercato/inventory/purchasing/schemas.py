"""HTTP shapes of purchase orders and the valuation report."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from mercato.core.money import Money
from mercato.inventory.schemas import MAX_LINES, MAX_UNITS

Amount = Annotated[
    Decimal,
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d+\.\d{2}$", "examples": ["12.50"]}),
]
"""An amount the server computed (a total can exceed what ``Money`` accepts as input)."""

PurchaseOrderStatus = Literal["open", "partially_received", "received", "cancelled"]


class PurchaseOrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=MAX_UNITS, description="Units ordered.")
    unit_cost: Money = Field(description="Cost of one unit, in the order's currency.")


class PurchaseOrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supplier: str = Field(min_length=1, max_length=200)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$",
                          description="ISO 4217 code; the variants' costs must be in it.")
    lines: list[PurchaseOrderLineIn] = Field(min_length=1, max_length=MAX_LINES,
                                             description="One line per SKU.")
    note: str | None = Field(default=None, max_length=2000)


class ReceiveLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=MAX_UNITS, description="Units arriving now.")


class ReceiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    location: str = Field(min_length=1, max_length=50, description="Location id or code.")
    lines: list[ReceiveLineIn] = Field(min_length=1, max_length=MAX_LINES)
    note: str | None = Field(default=None, max_length=2000,
                             description="Recorded on each ledger row.")


class PurchaseOrderLineOut(BaseModel):
    id: int
    sku: str
    variant_id: str
    quantity: int
    received: int
    outstanding: int
    unit_cost: Amount


class PurchaseOrderOut(BaseModel):
    id: str
    supplier: str
    currency: str
    status: PurchaseOrderStatus
    note: str | None
    lines: list[PurchaseOrderLineOut]
    ordered_units: int
    received_units: int
    ordered_value: Amount = Field(description="Σ quantity times unit cost.")
    received_value: Amount = Field(description="Σ received times unit cost.")
    created_at: dt.datetime
    updated_at: dt.datetime


class ValuationRow(BaseModel):
    location_id: str
    code: str
    name: str
    currency: str
    units: int = Field(description="Σ on hand.")
    value: Amount = Field(description="Σ on hand times the variant's cost.")
    uncosted_units: int = Field(description="Units of variants with no cost (not in value).")


class ValuationTotal(BaseModel):
    currency: str
    units: int
    value: Amount
    uncosted_units: int


class ValuationOut(BaseModel):
    locations: list[ValuationRow] = Field(
        description="One row per location (and per currency, if its variants' costs are in "
                    "more than one).")
    totals: list[ValuationTotal] = Field(description="One row per currency.")

