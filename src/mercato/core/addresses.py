"""A postal address: the one set of fields a place (an inventory location) and a person's
address (a customer's address book, an order's shipping and billing) build on.

Here, below every module, so that identity (customers' addresses) and inventory (locations)
share it without either importing the other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PostalAddress(BaseModel):
    model_config = ConfigDict(extra="forbid")
    line1: str = Field(default="", max_length=200)
    line2: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=100)
    region: str = Field(default="", max_length=100)
    postal_code: str = Field(default="", max_length=20)
    country: str = Field(default="", max_length=2, description="ISO 3166-1 alpha-2.")
