"""Money: decimal amounts (never floats), written as strings such as ``"12.50"``."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

CENTS = Decimal("0.01")
MAX_AMOUNT = Decimal("99999999.99")


def parse_amount(value: Any) -> Decimal:
    """Strings and integers only: a float has already lost the cents it was meant to carry."""
    if isinstance(value, bool | float):
        raise ValueError("amounts are decimal strings such as \"12.50\"")
    try:
        amount = Decimal(str(value).strip()) if isinstance(value, str | int | Decimal) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise ValueError("not a decimal amount")
    if amount < 0:
        raise ValueError("must not be negative")
    if amount > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT}")
    if amount != amount.quantize(CENTS, rounding=ROUND_HALF_EVEN):
        raise ValueError("at most two decimal places")
    return amount.quantize(CENTS)


Money = Annotated[
    Decimal,
    BeforeValidator(parse_amount),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,8}(\.\d{1,2})?$",
                    "examples": ["12.50"]}),
]
