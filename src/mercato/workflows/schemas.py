"""The API's shapes for workflows and their executions.

A definition's structure (trigger, steps, retry policies, branches) is checked here; what each
step type's ``params`` must hold, whether templates parse and whether a webhook's URL may be
called are checked by ``definitions.validate`` (the same 422, naming the field).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

STEP_TYPES = ("send_email", "call_webhook", "set_order_tag", "set_order_status",
              "adjust_stock", "wait", "branch")
StepType = Literal["send_email", "call_webhook", "set_order_tag", "set_order_status",
                   "adjust_stock", "wait", "branch"]
Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "exists"]
PATH = r"^[A-Za-z0-9_]{1,64}(\.[A-Za-z0-9_]{1,64}){0,9}$"
STEP_ID = r"^[A-Za-z0-9_-]{1,64}$"
MAX_STEPS = 50


class Condition(BaseModel):
    """``path`` (dots into the trigger's input, e.g. ``data.total``) compared by ``op`` with
    ``value``: numbers compare as decimals when both sides are numbers, else as text."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(pattern=PATH, examples=["data.total"])
    op: Op
    value: Any = None

    @model_validator(mode="after")
    def _value_fits(self) -> Condition:
        if self.op == "in" and not isinstance(self.value, list):
            raise ValueError("`in` takes a list value")
        if self.op == "exists" and not isinstance(self.value, bool | None):
            raise ValueError("`exists` takes true, false or no value")
        if self.op not in ("in", "exists") and not isinstance(
                self.value, str | int | float | bool):
            raise ValueError(f"`{self.op}` takes a text, number or boolean value")
        return self


class Schedule(BaseModel):
    """Every ``every_minutes`` minutes, or each day at ``daily_at`` (``HH:MM``, UTC)."""

    model_config = ConfigDict(extra="forbid")
    every_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    daily_at: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.every_minutes is None) == (self.daily_at is None):
            raise ValueError("give exactly one of every_minutes and daily_at")
        return self


class Trigger(BaseModel):
    """An event type from the outbox (``order.created``; ``order.*`` for every order event)
    with conditions that must all hold, or a schedule."""

    model_config = ConfigDict(extra="forbid")
    event: str | None = Field(default=None, pattern=r"^[a-z_]{1,50}\.([a-z_]{1,49}|\*)$",
                              examples=["order.created"])
    conditions: list[Condition] = Field(default_factory=list, max_length=20)
    schedule: Schedule | None = None

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        if (self.event is None) == (self.schedule is None):
            raise ValueError("give exactly one of event and schedule")
        return self


class Retry(BaseModel):
    """Up to ``max_attempts`` tries; the n-th retry waits about ``backoff * 2**(n-1)`` seconds
    (capped at an hour)."""

    model_config = ConfigDict(extra="forbid")
    max_attempts: int = Field(default=1, ge=1, le=10)
    backoff: float = Field(default=0, ge=0, le=3600)


class CompensateStep(BaseModel):
    """What undoes a completed step when a later one fails for good (no branches or waits)."""

    model_config = ConfigDict(extra="forbid")
    type: StepType
    params: dict[str, Any] = Field(default_factory=dict)
    retry: Retry | None = None


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    id: str = Field(pattern=STEP_ID)
    type: StepType
    params: dict[str, Any] = Field(default_factory=dict)
    retry: Retry | None = None
    compensate: CompensateStep | None = None
    then: list[Step] = Field(default_factory=list, max_length=MAX_STEPS)
    else_: list[Step] = Field(default_factory=list, alias="else", max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _branch_only(self) -> Step:
        if self.type != "branch" and (self.then or self.else_):
            raise ValueError("only a branch step has then/else")
        return self


class WorkflowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    enabled: bool = True
    trigger: Trigger
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)


class WorkflowUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    enabled: bool | None = None
    trigger: Trigger | None = None
    steps: list[Step] | None = Field(default=None, min_length=1, max_length=MAX_STEPS)


class WorkflowOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    enabled: bool
    trigger: dict[str, Any]
    steps: list[dict[str, Any]]
    next_run_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class TestRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: dict[str, Any] = Field(default_factory=dict, description=(
        "What the steps' templates and conditions see, as an event's would be: "
        '`{"data": {...}}`.'))


class StepRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    position: int
    step_id: str
    type: str
    phase: Literal["action", "compensation"]
    status: str
    input: dict[str, Any] | None
    output: dict[str, Any] | None
    error: str | None
    attempts: int
    started_at: dt.datetime
    finished_at: dt.datetime | None


class ExecutionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    workflow_id: str
    trigger_key: str | None
    test: bool
    status: str
    input: dict[str, Any]
    error: str | None
    next_run_at: dt.datetime
    created_at: dt.datetime
    finished_at: dt.datetime | None


class ExecutionDetail(ExecutionOut):
    steps: list[StepRunOut]
