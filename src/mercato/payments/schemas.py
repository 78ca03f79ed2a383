"""HTTP shapes of payment settings, gift cards, store credit and provider webhooks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

from mercato.core.money import Money, parse_amount

Method = Literal["manual", "store_credit", "gift_card", "stripe"]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["USD"])]


def _signed(value: Any) -> Decimal:
    """A decimal string that may start with "-": the Money rules on its magnitude."""
    if isinstance(value, str) and value.strip().startswith("-"):
        return -parse_amount(value.strip()[1:])
    if isinstance(value, Decimal | int) and not isinstance(value, bool) and value < 0:
        return -parse_amount(-value)
    return parse_amount(value)


SignedMoney = Annotated[
    Decimal,
    BeforeValidator(_signed),
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d{1,8}(\.\d{1,2})?$",
                    "examples": ["-5.00", "10.00"]}),
]


# -- settings -----------------------------------------------------------------------------------

class StripeSettingsIn(BaseModel):
    """Each field: a value sets it, ``null`` clears it, leaving it out keeps it."""

    model_config = ConfigDict(extra="forbid")
    secret_key: str | None = Field(default=None, pattern=r"^(sk|rk)_[A-Za-z0-9_]{8,240}$",
                                   description="`sk_test_...` / `sk_live_...` (or a restricted "
                                   "`rk_` key with PaymentIntents and Refunds write).")
    publishable_key: str | None = Field(default=None, pattern=r"^pk_[A-Za-z0-9_]{8,240}$")
    webhook_secret: str | None = Field(default=None, pattern=r"^whsec_[A-Za-z0-9_]{8,240}$",
                                       description="The signing secret of the webhook endpoint "
                                       "`https://<host>/webhooks/stripe/<store>`.")
    api_base: str | None = Field(default=None, max_length=500,
                                 pattern=r"^https?://[^\s/]+(:\d+)?(/[^\s]*)?$",
                                 description="Another API address (the local emulator); "
                                 "unset: https://api.stripe.com.")


class SecretOut(BaseModel):
    set: bool
    last4: str | None


class StripeSettingsOut(BaseModel):
    configured: bool = Field(description="A secret key is set: checkout can take card payments.")
    secret_key: SecretOut
    publishable_key: str | None
    webhook_secret: SecretOut
    api_base: str | None
    updated_at: dt.datetime | None


class MethodsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: list[Method] = Field(max_length=4, description="Methods checkout may offer.")


class MethodsOut(BaseModel):
    enabled: list[Method]
    available: list[Method] = Field(description="Enabled and ready (Stripe needs a secret key).")


# -- gift cards ---------------------------------------------------------------------------------

class GiftCardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    initial_balance: Money = Field(gt=Decimal(0))
    currency: Currency
    expires_at: AwareDatetime | None = None
    customer_id: str | None = Field(default=None, max_length=26)
    note: str | None = Field(default=None, max_length=2000)
    code: str | None = Field(default=None, min_length=8, max_length=64,
                             pattern=r"^[A-Za-z0-9 -]+$", description=(
                                 "A code of your own (printed cards); generated when omitted."))

    @field_validator("code")
    @classmethod
    def _enough(cls, value: str | None) -> str | None:
        if value is not None and sum(ch.isalnum() for ch in value) < 8:
            raise ValueError("at least 8 letters or digits")
        return value


class GiftCardUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    disabled: bool | None = None
    expires_at: AwareDatetime | None = None
    customer_id: str | None = Field(default=None, max_length=26)
    note: str | None = Field(default=None, max_length=2000)


class GiftCardOut(BaseModel):
    id: str
    masked_code: str = Field(description="Only the last four characters: the code is shown "
                             "once, when the card is issued.")
    last4: str
    currency: str
    initial_balance: Money
    balance: Money
    status: Literal["active", "empty", "expired", "disabled"]
    expires_at: dt.datetime | None
    disabled: bool
    customer_id: str | None
    note: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class GiftCardCreated(GiftCardOut):
    code: str = Field(description="The full code, shown this once.")


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: SignedMoney = Field(description="Added to the balance; negative to take off.")
    kind: Literal["adjust", "reload", "redeem"] = Field(
        default="adjust", description="`reload` adds (amount > 0), `redeem` spends in store "
        "(amount < 0), `adjust` corrects either way.")
    reason: str = Field(min_length=1, max_length=500)
    reference: str | None = Field(default=None, max_length=200)


class GiftCardTransactionOut(BaseModel):
    id: str
    kind: str
    amount: SignedMoney
    balance_after: Money
    reference: str | None
    reason: str | None
    created_at: dt.datetime


class AdjustmentOut(BaseModel):
    transaction: GiftCardTransactionOut
    gift_card: GiftCardOut


# -- store credit -------------------------------------------------------------------------------

class StoreCreditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["grant", "deduct"]
    amount: Money = Field(gt=Decimal(0))
    currency: Currency
    reason: str = Field(min_length=1, max_length=500)
    reference: str | None = Field(default=None, max_length=200)


class CreditBalanceOut(BaseModel):
    currency: str
    balance: Money


class StoreCreditEntryOut(BaseModel):
    id: str
    currency: str
    kind: str
    amount: SignedMoney
    balance_after: Money
    reference: str | None
    reason: str | None
    created_at: dt.datetime


class StoreCreditOut(BaseModel):
    customer_id: str
    balances: list[CreditBalanceOut]
    entries: list[StoreCreditEntryOut] = Field(description="Newest first, one page.")
    next_cursor: str | None


class StoreCreditChangeOut(BaseModel):
    entry: StoreCreditEntryOut
    balance: CreditBalanceOut


class WebhookReceived(BaseModel):
    received: bool
    duplicate: bool = Field(description="This event id was processed before: nothing done.")
    type: str
