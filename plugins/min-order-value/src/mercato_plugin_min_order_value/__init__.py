"""Minimum order value: a checkout rule (``before_checkout``) per currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mercato.plugins import Manifest, PluginContext, Refusal

SETTINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["minimums"],
    "properties": {
        "minimums": {
            "type": "object",
            "description": "The smallest subtotal a cart may be checked out with, per "
                           "currency (ISO 4217 code), as a decimal string.",
            "propertyNames": {"pattern": "^[A-Z]{3}$"},
            "additionalProperties": {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$"},
        },
        "message": {
            "type": "string", "maxLength": 300,
            "description": "Shown instead of the default refusal; {minimum} and {currency} "
                           "are replaced.",
        },
    },
}


def before_checkout(ctx: PluginContext, data: dict[str, Any]) -> None:
    """Refuse a cart whose subtotal is below its currency's minimum; change nothing."""
    currency = str(data["currency"])
    minimum = ctx.config.get("minimums", {}).get(currency)
    if minimum is None:
        return None
    subtotal = Decimal(str(data["subtotal"]))
    if subtotal >= Decimal(minimum):
        return None
    template = ctx.config.get("message") or (
        "The minimum order is {minimum} {currency} before shipping; add "
        "{missing} {currency} more to check out.")
    missing = Decimal(minimum) - subtotal
    raise Refusal(template.format(minimum=minimum, currency=currency, missing=missing,
                                  subtotal=subtotal), field="subtotal")


manifest = Manifest(
    name="min-order-value",
    version="0.1.0",
    description="Refuses a checkout whose subtotal is below a minimum per currency.",
    before={"before_checkout": before_checkout},
    settings_schema=SETTINGS_SCHEMA,
)
