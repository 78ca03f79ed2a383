"""HTTP shapes of the dead-letter routes."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

HandlerName = Field(None, min_length=1, max_length=200,
                    description="Only this handler's deliveries (e.g. `nats-export`).")
EventType = Field(None, min_length=1, max_length=100,
                  description="Only deliveries of this event type (e.g. `order.paid`).")


class DeadLetterOut(BaseModel):
    """One event's delivery to one handler that failed every attempt."""

    model_config = ConfigDict(from_attributes=True)
    id: int = Field(description="The delivery's id: what `.../{id}/replay` takes.")
    status: str = Field(description="`dead`; `pending` once replayed (until it is delivered).")
    event_id: str
    event_type: str
    resource_type: str
    resource_id: str
    handler: str = Field(description="The subscriber that failed, e.g. `nats-export`.")
    attempts: int = Field(description="Attempts made (0 again after a replay).")
    last_error: str | None = Field(description="The last attempt's exception, as logged.")
    event_created_at: dt.datetime = Field(description="When the event was recorded.")
    dead_at: dt.datetime | None = Field(description="When the last attempt failed.")


class ReplayFilter(BaseModel):
    """Which dead letters a bulk replay puts back in line: all of the organization's, or only
    a handler's or an event type's."""

    model_config = ConfigDict(extra="forbid")
    handler: str | None = HandlerName
    type: str | None = EventType


class ReplayedOut(BaseModel):
    replayed: int = Field(description="Dead letters put back in line.")
    ids: list[int] = Field(description="Their ids, oldest first.")
