from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class DomainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    domain: str = Field(max_length=253, examples=["cards.example.com"])


class DomainOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    domain: str
    created_at: dt.datetime


class OrganizationOut(BaseModel):
    id: str
    slug: str
    name: str
    domains: list[DomainOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


class StoreOut(BaseModel):
    slug: str
    name: str
