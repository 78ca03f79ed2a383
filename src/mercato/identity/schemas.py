from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mercato.identity.permissions import Role


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254)
    password: str = Field(max_length=256)
    organization: str | None = Field(default=None, description="Organization slug, needed "
                                     "only when the email belongs to several organizations.")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the scheme name
    expires_in: int


class SignedIn(TokenResponse):
    """A staff sign-in or refresh: an access token and the refresh token that renews it."""

    refresh_token: str = Field(description="Shown once. Trade it for a new pair with POST "
                               "/api/v1/auth/refresh; it works once (a second use ends the "
                               "sign-in). End the sign-in with POST /api/v1/auth/logout.")
    refresh_token_expires_in: int = Field(description="Seconds until the refresh token "
                                          "expires unused; a sign-in lasts at most "
                                          "MERCATO_REFRESH_TOKEN_TTL_SECONDS in all.")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(max_length=200)


class AcceptInvite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=200)
    password: str = Field(max_length=256)


class OrganizationRef(BaseModel):
    id: str
    slug: str
    name: str


class Me(BaseModel):
    type: Literal["staff", "api_key"]
    id: str
    email: str | None = None
    name: str | None = None
    role: str | None = None
    organization: OrganizationRef
    permissions: list[str]


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254)
    role: Role
    password: str | None = Field(default=None, max_length=256)
    invite: bool = Field(default=False, description="Create the account without a password "
                         "and return a one-time invite token to set it.")


class StaffUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    is_active: bool | None = None
    password: str | None = Field(default=None, max_length=256)


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    email: str
    role: Role
    is_active: bool
    status: Literal["active", "invited", "deactivated"]
    created_at: dt.datetime
    updated_at: dt.datetime


class StaffCreated(StaffOut):
    invite_token: str | None = Field(default=None, description="Shown once; present for "
                                     "invites. Redeem with POST /api/v1/auth/accept-invite.")


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=64)


class ApiKeyOwner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    staff_id: str = Field(min_length=1, max_length=26, description=(
        "An active staff member: the key acts with at most their permissions from now on."))


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_by_id: str | None = Field(description=(
        "The key's owner: its creator, or whom an owner gave it to (null: made by the CLI, "
        "owned by the organization's first owner). The key acts with at most the owner's "
        "current permissions and stops working when the owner is deactivated."))
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret; shown only in this response.")


class Actor(BaseModel):
    type: str
    id: str | None
    label: str


class AuditEntryOut(BaseModel):
    id: str
    actor: Actor
    action: str
    resource_type: str
    resource_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None
    created_at: dt.datetime
