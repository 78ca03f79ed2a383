"""HTTP shapes of the reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

Amount = Annotated[
    Decimal,
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["12.50"]}),
]
"""A sum the server computed, as a decimal string."""


class SalesRowOut(BaseModel):
    key: str = Field(description="The day (`YYYY-MM-DD`), the order's channel (a sales "
                     "channel's id or a source name) or the product's id (`variant:<id>` for "
                     "a variant no longer in the catalog).")
    label: str = Field(description="For people: the day in the organization's locale, the "
                       "channel's name, the product's title.")
    orders: int = Field(description="Orders with a line in this row.")
    units: int = Field(description="Units sold (cancelled and refunded units left out).")
    amount: Amount = Field(description="Net sales: after discounts, cancellations and "
                           "refunds; before tax and shipping.")


class SalesReportOut(BaseModel):
    from_: dt.date = Field(alias="from", description="First day, in the organization's time "
                           "zone.")
    to: dt.date = Field(description="Last day (included).")
    group_by: str
    currency: str = Field(description="The organization's default currency; orders in "
                          "other currencies are not added in (see `other_currencies`).")
    time_zone: str = Field(description="The IANA zone days are counted in.")
    rows: list[SalesRowOut]
    totals: SalesRowOut
    other_currencies: list[str] = Field(description="Currencies of orders in the range left "
                                        "out of the sums.")

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)
