"""Shopper-facing shapes: sign-up, sign-in, password reset, profile, addresses."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mercato.identity.customers.schemas import Address, Email


class SignUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: str = Field(max_length=256)
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)


class CustomerTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    cart_id: str | None = Field(default=None, max_length=26, description=(
        "The guest cart to bring along: merged into the shopper's open cart (or made theirs)."))


class CustomerTokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme name
    expires_in: int
    cart_id: str | None = Field(default=None, description="The shopper's cart after merging.")


class ResetRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)


class ResetConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=200)
    password: str = Field(max_length=256)


class TokenConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=200)


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256)


class ProfileOut(BaseModel):
    id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    phones: list[str]
    verified: bool = Field(description="The email is proven; until then the order history "
                                       "shows only orders placed while signed in.")
    created_at: dt.datetime


class ProfileUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phones: list[str] | None = Field(default=None, max_length=10)


class AddressBookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: Address
    default_shipping: bool = False
    default_billing: bool = False


class AddressBookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: Address | None = None
    default_shipping: bool | None = None
    default_billing: bool | None = None


class Accepted(BaseModel):
    status: str
