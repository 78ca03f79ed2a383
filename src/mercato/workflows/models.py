"""Workflows (a trigger and steps, per organization), their executions and each step's record.

An execution keeps its own copy of the workflow's steps (``plan``: what is left to run, in
order), so editing a workflow never changes one already running; the worker resumes it from
this row after a ``wait``, a retry's backoff or a crash (its lease lapses).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mercato.core.db import Base, TenantMixin, utcnow
from mercato.core.ids import new_id
from mercato.core.mixins import Timestamps, Versioned

EXECUTION_STATUSES = ("pending", "running", "waiting", "retrying", "compensating",
                      "succeeded", "failed", "compensated")
FINISHED = frozenset({"succeeded", "failed", "compensated"})
STEP_STATUSES = ("running", "retrying", "waiting", "succeeded", "failed")


class Workflow(Timestamps, Versioned, TenantMixin, Base):
    """A merchant's automation: when ``trigger`` fires (an event, or a schedule), run ``steps``.

    ``event_type`` copies the trigger's event for the subscriber's lookup; ``next_run_at`` is
    when a scheduled workflow is next due (None for event triggers)."""

    __tablename__ = "workflows"
    __table_args__ = (
        UniqueConstraint("organization_id", "name"),
        Index("ix_workflows_event", "organization_id", "event_type", "enabled"),
        Index("ix_workflows_due", "enabled", "next_run_at"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[dict[str, Any]]
    steps: Mapped[list[dict[str, Any]]]
    event_type: Mapped[str | None] = mapped_column(String(100))
    next_run_at: Mapped[dt.datetime | None]


class WorkflowExecution(TenantMixin, Base):
    """One run of a workflow. ``trigger_key`` (``event:<id>`` or ``schedule:<due time>``) is
    unique per workflow, so an event delivered twice, or two workers scheduling at once, start
    one execution; test runs have none."""

    __tablename__ = "workflow_executions"
    __audited__ = False  # a record itself, written step by step by the worker
    __table_args__ = (
        UniqueConstraint("workflow_id", "trigger_key"),
        Index("ix_workflow_executions_due", "status", "next_run_at"),
        Index("ix_workflow_executions_listing", "workflow_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    workflow_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("workflows.id", ondelete="CASCADE"))
    trigger_key: Mapped[str | None] = mapped_column(String(100))
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    input: Mapped[dict[str, Any]]
    plan: Mapped[list[dict[str, Any]]]
    completed: Mapped[list[dict[str, Any]]]
    outputs: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    next_run_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]


class WorkflowStepRun(TenantMixin, Base):
    """One step of an execution (or one compensation): the parameters it ran with, what it
    answered or the last error, how many attempts it took."""

    __tablename__ = "workflow_step_runs"
    __audited__ = False
    __table_args__ = (
        UniqueConstraint("execution_id", "step_id", "phase"),
        Index("ix_workflow_step_runs_order", "execution_id", "position"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True, default=new_id)
    execution_id: Mapped[str] = mapped_column(
        String(26), ForeignKey("workflow_executions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(30))
    phase: Mapped[str] = mapped_column(String(16), default="action")
    status: Mapped[str] = mapped_column(String(16), default="running")
    input: Mapped[dict[str, Any] | None]
    output: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
