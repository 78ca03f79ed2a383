"""Shapes of ``/api/platform/v1`` (the pages validate their forms with them too)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OperatorTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254, examples=["ops@platform.example"])
    password: str = Field(max_length=256)


class Limits(BaseModel):
    """A limit left out (or null) is unlimited."""

    model_config = ConfigDict(extra="forbid")
    products: int | None = Field(default=None, ge=0, le=1_000_000_000,
                                 description="Products the organization may hold.")
    staff: int | None = Field(default=None, ge=0, le=1_000_000_000,
                              description="Active staff members (invited ones count).")
    api_calls_per_minute: int | None = Field(
        default=None, ge=0, le=1_000_000_000,
        description="`/api/v1` calls per minute (429 `rate_limited` with Retry-After past it).")

    def stored(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, examples=["Dragon's Hoard Games"])
    slug: str = Field(min_length=1, max_length=63, examples=["dragons-hoard"],
                      description="Lowercase letters, digits and hyphens; the store's URL name.")
    owner_email: str = Field(max_length=254, examples=["owner@dragons-hoard.example"])
    owner_password: str = Field(min_length=8, max_length=256)
    plan: str | None = Field(default=None, min_length=1, max_length=64, examples=["starter"],
                             description="Default `standard`.")
    limits: Limits | None = None


class OrganizationPatch(BaseModel):
    """What is given changes; ``limits`` replaces the limits whole."""

    model_config = ConfigDict(extra="forbid")
    plan: str | None = Field(default=None, min_length=1, max_length=64)
    limits: Limits | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    logo_url: str | None = Field(default=None, max_length=500, description=(
        "An `https://` image address or a path of the store's media; `\"\"` removes it."))
    brand_color: str | None = Field(default=None, max_length=7, examples=["#1a5fb4"])
    accent_color: str | None = Field(default=None, max_length=7, examples=["#e66100"])


class SuspendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=500,
                               examples=["Payment overdue"])


class OwnerOut(BaseModel):
    id: str
    email: str


class PlatformOrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    slug: str
    name: str
    status: Literal["active", "suspended"]
    suspended_at: dt.datetime | None
    suspension_reason: str | None
    plan: str
    limits: dict[str, int] = Field(description="Only the limits set; a missing one is "
                                   "unlimited.")
    logo_url: str | None
    brand_color: str | None
    accent_color: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class PlatformOrganizationCreated(PlatformOrganizationOut):
    owner: OwnerOut


class OperatorOut(BaseModel):
    id: str
    email: str
