from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DomainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: str = Field(max_length=253, examples=["cards.example.com"])


class DnsProof(BaseModel):
    type: Literal["TXT"] = "TXT"
    name: str = Field(examples=["_mercato-challenge.cards.example.com"])
    value: str = Field(description="The claim's token.")


class HttpProof(BaseModel):
    path: str = Field(examples=["/.well-known/mercato-challenge/3q2-7wHk..."],
                      description="Path on the domain (https or http) that must answer 200 "
                      "with exactly ``body``.")
    body: str = Field(description="The claim's token.")


class DomainVerification(BaseModel):
    """Either proves control of the domain; publish one, then call .../verify."""

    dns: DnsProof
    http: HttpProof


class DomainOut(BaseModel):
    id: str
    domain: str
    verified: bool = Field(description="Only a verified domain reaches the store.")
    verified_at: dt.datetime | None
    verified_by: str | None = Field(description="dns, http or operator")
    verification: DomainVerification
    created_at: dt.datetime


class OrganizationOut(BaseModel):
    id: str
    slug: str
    name: str
    time_zone: str = Field(description="IANA time zone the store's days follow (reports, "
                           "the dashboard).", examples=["America/New_York"])
    locale: str = Field(description="CLDR locale pages format numbers, money and dates for.",
                        examples=["en_US"])
    currency: str = Field(description="ISO 4217 default currency; reports total in it.",
                          examples=["USD"])
    logo_url: str | None = Field(description="The storefront's logo: an https URL or a path "
                                 "of the store's media; null shows the name alone.")
    brand_color: str | None = Field(description="`#rrggbb` of the storefront's header (its "
                                    "text is white or black, whichever reads better).",
                                    examples=["#1a5fb4"])
    accent_color: str | None = Field(description="`#rrggbb` of the storefront's primary "
                                     "buttons (text picked the same way).",
                                     examples=["#e66100"])
    domains: list[DomainOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class OrganizationUpdate(BaseModel):
    """What is given changes; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    time_zone: str | None = Field(default=None, max_length=64, examples=["Europe/Paris"],
                                  description="An IANA time zone name.")
    locale: str | None = Field(default=None, max_length=35, examples=["fr_FR"],
                               description="A CLDR locale identifier (`en`, `en_US`, `fr-CA`).")
    currency: str | None = Field(default=None, max_length=3, examples=["EUR"],
                                 description="An ISO 4217 currency code.")
    logo_url: str | None = Field(default=None, max_length=500, description=(
        "An `https://` address of an image, or a path of the store's own media "
        "(`/media/<organization id>/<name>`); `\"\"` removes the logo."),
        examples=["https://cdn.example.com/logo.svg"])
    brand_color: str | None = Field(default=None, max_length=7, examples=["#1a5fb4"],
                                    description="`#rrggbb`, the storefront header's colour; "
                                    "`\"\"` goes back to the default.")
    accent_color: str | None = Field(default=None, max_length=7, examples=["#e66100"],
                                     description="`#rrggbb`, the storefront buttons' colour; "
                                     "`\"\"` goes back to the default.")


class StoreOut(BaseModel):
    slug: str
    name: str
