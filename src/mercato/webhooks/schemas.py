"""HTTP shapes of webhook endpoints and their deliveries."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["pending", "delivered", "dead"]
BreakerState = Literal["closed", "open", "half_open"]

EVENTS_FIELD = Field(
    min_length=1, max_length=100,
    description="Event types (`order.paid`), families (`order.*`) or `*` for every event.",
    examples=[["order.*", "product.updated"]])


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2048, description=(
        "http(s) URL the deliveries are POSTed to. Private, loopback and link-local targets "
        "are refused unless the host is in MERCATO_WEBHOOK_ALLOW_HOSTS."),
        examples=["https://example.com/hooks/mercato"])
    events: list[str] = EVENTS_FIELD
    secret: str | None = Field(None, min_length=16, max_length=200, description=(
        "The signing secret; generated (`whsec_...`) when absent. Returned once."))
    description: str | None = Field(None, max_length=500)
    enabled: bool = True


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(None, min_length=1, max_length=2048)
    events: list[str] | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = Field(None, description=(
        "false pauses deliveries of new events; true again also closes the breaker."))


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grace_seconds: int | None = Field(None, ge=0, le=7 * 24 * 3600, description=(
        "How long the current secret keeps signing beside the new one (default 86400; "
        "0: stop at once)."))
    secret: str | None = Field(None, min_length=16, max_length=200, description=(
        "The new secret; generated when absent."))


class Breaker(BaseModel):
    state: BreakerState = Field(description=(
        "`closed`: sending; `open`: deliveries wait (their attempts unused) until "
        "`open_until`; `half_open`: the next send is a probe that closes it on success."))
    consecutive_failures: int
    open_until: dt.datetime | None


class EndpointOut(BaseModel):
    id: str
    url: str
    description: str | None
    events: list[str]
    enabled: bool
    secret_last4: str = Field(description="The last four characters of the current secret.")
    previous_secret_last4: str | None = Field(description=(
        "The rotated-out secret that still signs until `previous_secret_expires_at`."))
    previous_secret_expires_at: dt.datetime | None
    breaker: Breaker
    created_at: dt.datetime
    updated_at: dt.datetime


class EndpointCreated(EndpointOut):
    secret: str = Field(description="The signing secret; shown only in this response.")


class DeliverySummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    endpoint_id: str
    event_id: str = Field(description="Sent as `Mercato-Event-Id`; the same on every attempt.")
    event_type: str
    status: Status = Field(description=(
        "`pending` (waiting, retrying, or being sent), `delivered`, `dead` (every attempt "
        "failed; retry it by hand)."))
    attempts: int
    next_attempt_at: dt.datetime | None = Field(description="When a pending delivery is due.")
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    number: int
    url: str
    request_headers: dict[str, Any]
    request_body: str
    response_status: int | None
    response_body: str | None = Field(description="The first 2048 characters of the answer.")
    latency_ms: int
    error: str | None
    started_at: dt.datetime


class DeliveryOut(DeliverySummary):
    body: str = Field(description="The JSON body every attempt sends.")
    attempts_log: list[AttemptOut] = Field(description="Every attempt, first first.")


class Retried(BaseModel):
    retried: int = Field(description="Dead deliveries queued again.")
