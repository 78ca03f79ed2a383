"""HTTP shapes of customers: the staff's customer records and the shopper's address book."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from mercato.core.addresses import PostalAddress
from mercato.core.money import Money


def _email(value: Any) -> str:
    """Lowercased and trimmed, so matching an order to a customer is an equality test."""
    if not isinstance(value, str):
        raise ValueError("an email address")
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email) \
            or len(email) > 320 or "@" in domain:
        raise ValueError("not an email address")
    return email


Email = Annotated[str, BeforeValidator(_email)]


class Address(PostalAddress):
    """A location's address plus who it is for."""

    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    company: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=50)


class CustomerAddressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: Address
    default_shipping: bool = False
    default_billing: bool = False


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    emails: list[Email] = Field(default_factory=list, max_length=20,
                                   description="Further addresses this customer uses.")
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phones: list[str] = Field(default_factory=list, max_length=10)
    tags: list[str] = Field(default_factory=list, max_length=50)
    note: str | None = Field(default=None, max_length=5000)
    addresses: list[CustomerAddressIn] = Field(default_factory=list, max_length=20)


class CustomerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email | None = None
    emails: list[Email] | None = Field(default=None, max_length=20)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phones: list[str] | None = Field(default=None, max_length=10)
    tags: list[str] | None = Field(default=None, max_length=50)
    note: str | None = Field(default=None, max_length=5000)
    addresses: list[CustomerAddressIn] | None = Field(default=None, max_length=20)


class CustomerAddressOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    address: dict[str, Any]
    default_shipping: bool
    default_billing: bool


class CustomerOut(BaseModel):
    id: str
    email: str | None
    emails: list[str]
    first_name: str | None
    last_name: str | None
    phones: list[str]
    tags: list[str]
    note: str | None
    addresses: list[CustomerAddressOut]
    orders_count: int
    lifetime_value: dict[str, Money] = Field(description=(
        "Paid minus refunded over the customer's orders, per currency (ISO code to amount); "
        "empty before the first order."))
    created_at: dt.datetime
    updated_at: dt.datetime


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duplicates: list[str] = Field(min_length=1, max_length=50, description=(
        "Customers merged into this one: their emails, phones, tags, addresses and orders "
        "move here, and they are deleted."))
