"""Workflows: definitions kept per organization, and executions run step by step.

Starting: an outbox event (``start_for_event``, the ``"*"`` subscriber) or a schedule
(``schedule_due``, the worker's periodic task) creates an execution; ``trigger_key`` is unique
per workflow, so an event delivered twice, or two workers on one schedule, start one.

Running: the worker claims due executions under a lease (``core.queue``) and moves each on one
step per transaction (``advance``), so a step's database effects (an order's tag, a stock
movement, a queued email) commit together with its record, exactly once. A step that fails is
retried per its ``retry`` policy: the execution waits (``retrying``, ``next_run_at``) and the
worker resumes it, as it does after a ``wait``; nothing sleeps. A step that fails for good
makes the compensations of the steps already done run, newest first, each recorded too; the
execution ends ``compensated`` when they all succeed, ``failed`` otherwise.

A test run (``run_test``) runs in the caller's transaction at once, up to a ``wait`` or a
retry's backoff; the worker carries on from there.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import structlog
from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato import inventory, notifications, tenancy
from mercato.core import queue
from mercato.core.db import SYSTEM, Database, require_owned, set_tenant, utcnow
from mercato.core.egress import check_url
from mercato.core.errors import Conflict, MercatoError, ValidationFailed
from mercato.core.ids import new_id
from mercato.core.outbox import Event, not_paused
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.core.retry import backoff
from mercato.orders import service as orders
from mercato.settings import Settings
from mercato.workflows import definitions
from mercato.workflows.models import (
    FINISHED,
    Workflow,
    WorkflowExecution,
    WorkflowStepRun,
)
from mercato.workflows.schemas import (
    Condition,
    Schedule,
    Step,
    Trigger,
    WorkflowIn,
    WorkflowUpdate,
)

log = structlog.get_logger("mercato.workflows")

ACTIVE = ("pending", "running", "waiting", "retrying", "compensating")
LEASE_SECONDS = 120
BATCH_SIZE = 20
MAX_STEPS_PER_PASS = 500
"""Steps one pass (or one test run) takes before leaving the rest to the next pass."""
RETRY_CAP_SECONDS = 3600.0


# -- definitions ----------------------------------------------------------------------------

def _apply(workflow: Workflow, trigger: Trigger, steps: list[Step], now: dt.datetime) -> None:
    workflow.trigger = definitions.stored_trigger(trigger)
    workflow.steps = definitions.stored(steps)
    workflow.event_type = trigger.event
    workflow.next_run_at = (definitions.next_run(trigger.schedule, now)
                            if trigger.schedule is not None else None)


def _name_free(session: Session, name: str, workflow_id: str | None = None) -> None:
    stmt = select(exists().where(Workflow.name == name,
                                 *([Workflow.id != workflow_id] if workflow_id else [])))
    if session.scalar(stmt):
        raise Conflict("A workflow has this name already.",
                       errors=[{"field": "name", "message": "taken"}])


def create(session: Session, data: WorkflowIn, *, allow_hosts: Iterable[str]) -> Workflow:
    definitions.validate(data.trigger, data.steps, allow_hosts)
    _name_free(session, data.name)
    workflow = Workflow(name=data.name, enabled=data.enabled)
    _apply(workflow, data.trigger, data.steps, utcnow())
    session.add(workflow)
    session.flush()
    return workflow


def list_workflows(session: Session, params: PageParams, *,
                   enabled: bool | None = None) -> Slice[Workflow]:
    stmt = select(Workflow)
    if enabled is not None:
        stmt = stmt.where(Workflow.enabled == enabled)
    return paginate(session, stmt, [(Workflow.created_at, True), (Workflow.id, True)], params)


def get(session: Session, workflow_id: str) -> Workflow:
    return require_owned(session, Workflow, workflow_id, "Workflow")


def update_workflow(session: Session, workflow: Workflow, data: WorkflowUpdate, *,
                    allow_hosts: Iterable[str]) -> Workflow:
    trigger = data.trigger or Trigger.model_validate(workflow.trigger)
    steps = data.steps if data.steps is not None else [
        Step.model_validate(step) for step in workflow.steps]
    definitions.validate(trigger, steps, allow_hosts)
    if data.name is not None and data.name != workflow.name:
        _name_free(session, data.name, workflow.id)
        workflow.name = data.name
    if data.trigger is not None or data.steps is not None:
        _apply(workflow, trigger, steps, utcnow())
    if data.enabled is not None:
        set_enabled(workflow, data.enabled)
    session.flush()
    return workflow


def set_enabled(workflow: Workflow, enabled: bool) -> Workflow:
    """Enabling a scheduled workflow counts its next run from now (no burst of missed runs)."""
    if enabled and not workflow.enabled and workflow.trigger.get("schedule"):
        workflow.next_run_at = definitions.next_run(
            Schedule.model_validate(workflow.trigger["schedule"]), utcnow())
    workflow.enabled = enabled
    return workflow


def delete(session: Session, workflow: Workflow) -> None:
    """Its executions and their records go with it."""
    session.delete(workflow)
    session.flush()


# -- executions: reading --------------------------------------------------------------------

def list_executions(session: Session, workflow_id: str,
                    params: PageParams) -> Slice[WorkflowExecution]:
    get(session, workflow_id)
    stmt = select(WorkflowExecution).where(WorkflowExecution.workflow_id == workflow_id)
    return paginate(session, stmt, [(WorkflowExecution.created_at, True),
                                    (WorkflowExecution.id, True)], params)


def get_execution(session: Session, execution_id: str) -> WorkflowExecution:
    return require_owned(session, WorkflowExecution, execution_id, "Workflow execution")


def step_runs(session: Session, execution_id: str) -> list[WorkflowStepRun]:
    """An execution's steps in the order they started (compensations last)."""
    return list(session.scalars(select(WorkflowStepRun)
                                .where(WorkflowStepRun.execution_id == execution_id)
                                .order_by(WorkflowStepRun.position)))


# -- executions: starting -------------------------------------------------------------------

def _new_execution(session: Session, workflow: Workflow, *, trigger_key: str | None,
                   payload: dict[str, Any], test: bool = False,
                   organization_id: str | None = None) -> WorkflowExecution | None:
    """A pending execution with its own copy of the steps; None when ``trigger_key`` started
    one already (the unique constraint decides between twins)."""
    if trigger_key is not None and session.scalar(select(exists().where(
            WorkflowExecution.workflow_id == workflow.id,
            WorkflowExecution.trigger_key == trigger_key))):
        return None
    execution = WorkflowExecution(
        workflow_id=workflow.id, trigger_key=trigger_key, test=test, status="pending",
        input=payload, plan=[{"phase": "action", "step": step} for step in workflow.steps],
        completed=[], outputs={}, next_run_at=utcnow())
    if organization_id is not None:
        execution.organization_id = organization_id
    try:
        with session.begin_nested():
            session.add(execution)
    except IntegrityError:
        return None
    return execution


def event_input(event: Event) -> dict[str, Any]:
    """What an event-triggered execution's conditions and templates see."""
    return {"event": {"id": event.id, "type": event.type, "resource_type": event.resource_type,
                      "resource_id": event.resource_id,
                      "created_at": event.created_at.isoformat()},
            "data": event.data}


def start_for_event(session: Session, event: Event) -> list[WorkflowExecution]:
    """An execution per enabled workflow of the event's organization whose trigger names this
    event type (or ``<prefix>.*``) and whose conditions hold; once per (workflow, event)."""
    prefix = event.type.split(".", 1)[0]
    workflows = session.scalars(select(Workflow).where(
        Workflow.enabled.is_(True),
        Workflow.event_type.in_([event.type, f"{prefix}.*"])).order_by(Workflow.id)).all()
    payload = event_input(event)
    started = []
    for workflow in workflows:
        conditions = [Condition.model_validate(c)
                      for c in workflow.trigger.get("conditions", [])]
        if not definitions.all_hold(conditions, payload):
            continue
        execution = _new_execution(session, workflow, trigger_key=f"event:{event.id}",
                                   payload=payload)
        if execution is not None:
            started.append(execution)
    return started


def schedule_due(db: Database, *, now: dt.datetime | None = None) -> int:
    """Start every enabled scheduled workflow that is due, in every organization; the number
    started. Each due time starts one execution, however many workers ask at once."""
    now = now or utcnow()
    started = 0
    with db.session(write=False, tenant=SYSTEM) as session:  # idle polls take no write lock
        if session.scalar(select(Workflow.id).where(
                Workflow.enabled.is_(True), Workflow.next_run_at <= now).limit(1)) is None:
            return 0
    with db.transaction(tenant=SYSTEM) as session:
        due = session.scalars(select(Workflow).where(
            Workflow.enabled.is_(True), Workflow.next_run_at.is_not(None),
            Workflow.next_run_at <= now).order_by(Workflow.next_run_at).limit(100)).all()
        for workflow in due:
            at = workflow.next_run_at
            assert at is not None
            following = definitions.next_run(
                Schedule.model_validate(workflow.trigger["schedule"]), max(now, at))
            moved = session.execute(
                update(Workflow).where(Workflow.id == workflow.id, Workflow.next_run_at == at)
                .values(next_run_at=following),
                execution_options={"synchronize_session": False})
            if getattr(moved, "rowcount", 0) != 1:
                continue  # another worker took this due time
            payload = {"schedule": {"due_at": at.isoformat(), "workflow_id": workflow.id},
                       "data": {}}
            if _new_execution(session, workflow, trigger_key=f"schedule:{at.isoformat()}",
                              payload=payload, organization_id=workflow.organization_id):
                started += 1
    return started


# -- executions: running --------------------------------------------------------------------

def _context(execution: WorkflowExecution) -> dict[str, Any]:
    return {**execution.input, "steps": dict(execution.outputs),
            "execution": {"id": execution.id, "test": execution.test}}


def _run_of(session: Session, execution: WorkflowExecution, step: dict[str, Any],
            phase: str) -> WorkflowStepRun:
    run = session.scalar(select(WorkflowStepRun).where(
        WorkflowStepRun.execution_id == execution.id,
        WorkflowStepRun.step_id == step["id"], WorkflowStepRun.phase == phase))
    if run is None:
        position = (session.scalar(select(func.count()).select_from(WorkflowStepRun).where(
            WorkflowStepRun.execution_id == execution.id)) or 0) + 1
        run = WorkflowStepRun(execution_id=execution.id, position=position, step_id=step["id"],
                              type=step["type"], phase=phase, status="running", attempts=0,
                              started_at=utcnow())
        session.add(run)
    return run


Action = Callable[[Session, dict[str, Any], WorkflowExecution, str, Settings], dict[str, Any]]


def _send_email(session: Session, params: dict[str, Any], execution: WorkflowExecution,
                reference: str, settings: Settings) -> dict[str, Any]:
    store = tenancy.get_organization(session, execution.organization_id).name
    queued = notifications.send_message(session, to=params["to"], subject=params["subject"],
                                        body=params["body"], reference=reference,
                                        store_name=store)
    return {"notification_id": queued, "to": params["to"]}


def _call_webhook(session: Session, params: dict[str, Any], execution: WorkflowExecution,
                  reference: str, settings: Settings) -> dict[str, Any]:
    url = check_url(params["url"], settings.webhook_allow_hosts)  # the name may move (DNS)
    body = params.get("body")
    if body is None:
        body = {"workflow_id": execution.workflow_id, "execution_id": execution.id,
                "input": execution.input}
    response = httpx.post(url, json=body, timeout=float(params.get("timeout", 10)),
                          follow_redirects=False,  # a redirect could point anywhere
                          headers={"Idempotency-Key": reference,
                                   "User-Agent": "Mercato-Workflows"})
    if not response.is_success:
        raise RuntimeError(f"the endpoint answered {response.status_code}")
    return {"status": response.status_code, "body": response.text[:2000]}


def _set_order_tag(session: Session, params: dict[str, Any], execution: WorkflowExecution,
                   reference: str, settings: Settings) -> dict[str, Any]:
    changed = orders.tag_order(session, params["order_id"], params["tag"],
                               remove=bool(params.get("remove", False)))
    return {"order_id": params["order_id"], "tag": params["tag"], "changed": changed}


def _set_order_status(session: Session, params: dict[str, Any], execution: WorkflowExecution,
                      reference: str, settings: Settings) -> dict[str, Any]:
    target, order_id = params["status"], params["order_id"]
    if target == "cancelled":
        changed = orders.cancel_if_open(session, order_id,
                                        params.get("reason") or "Cancelled by a workflow")
    else:
        changed = orders.get_order(session, order_id).status != target
        if changed:
            orders.set_status(session, order_id, target)
    return {"order_id": order_id, "status": target, "changed": changed}


def _adjust_stock(session: Session, params: dict[str, Any], execution: WorkflowExecution,
                  reference: str, settings: Settings) -> dict[str, Any]:
    try:
        delta = int(str(params["delta"]).strip())
    except ValueError:
        raise ValidationFailed("delta is not a whole number", errors=[
            {"field": "delta", "message": "not a whole number"}]) from None
    lines = inventory.adjust(session, inventory.AdjustmentIn(
        lines=[inventory.AdjustmentLine(sku=params["sku"], location=params["location"],
                                        delta=delta, note=params.get("note"))],
        reference=reference[:200]))
    level = lines[0][0] if lines else None
    return {"sku": params["sku"], "location": params["location"], "delta": delta,
            "on_hand": None if level is None else level.on_hand}


ACTIONS: dict[str, Action] = {
    "send_email": _send_email, "call_webhook": _call_webhook,
    "set_order_tag": _set_order_tag, "set_order_status": _set_order_status,
    "adjust_stock": _adjust_stock,
}


def _error_text(exc: Exception) -> str:
    if isinstance(exc, MercatoError):
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in exc.errors or [])
        return f"{exc.detail}" + (f" ({fields})" if fields else "")
    return f"{type(exc).__name__}: {exc}"[:2000]


def _finish(session: Session, execution: WorkflowExecution, now: dt.datetime) -> None:
    if execution.status == "compensating":
        failed = session.scalar(select(exists().where(
            WorkflowStepRun.execution_id == execution.id,
            WorkflowStepRun.phase == "compensation", WorkflowStepRun.status == "failed")))
        execution.status = "failed" if failed else "compensated"
    else:
        execution.status = "succeeded"
    execution.finished_at = now


def _give_up(execution: WorkflowExecution, step: dict[str, Any], error: str,
             now: dt.datetime) -> None:
    """A step failed for good: the done steps' compensations, newest first, replace the plan."""
    execution.error = f"step {step['id']!r} failed: {error}"[:4000]
    undo = [{"phase": "compensation",
             "step": {"id": done["id"], "type": done["compensate"]["type"],
                      "params": done["compensate"].get("params", {}),
                      **({"retry": done["compensate"]["retry"]}
                         if done["compensate"].get("retry") else {})}}
            for done in reversed(execution.completed) if done.get("compensate")]
    if undo:
        execution.status = "compensating"
        execution.plan = undo
    else:
        execution.status = "failed"
        execution.plan = []
        execution.finished_at = now


def advance(session: Session, execution: WorkflowExecution, settings: Settings,
            now: dt.datetime) -> bool:
    """Take the execution one step on, in the caller's transaction; True when the next step
    is due at once (False: finished, waiting, or backing off before a retry)."""
    if execution.status in FINISHED:
        return False
    if not execution.plan:
        _finish(session, execution, now)
        return False
    entry = execution.plan[0]
    step, phase = entry["step"], entry["phase"]
    run = _run_of(session, execution, step, phase)
    if execution.status != "compensating":
        execution.status = "running"
    context = _context(execution)

    if step["type"] == "wait":
        until = now + dt.timedelta(seconds=int(step["params"]["seconds"]))
        if run.status != "waiting":
            run.status, run.attempts = "waiting", 1
            run.input = {"seconds": int(step["params"]["seconds"])}
            run.output = {"until": until.isoformat()}
            execution.status, execution.next_run_at = "waiting", until
            return False
        resume = dt.datetime.fromisoformat((run.output or {})["until"])
        if now < resume:
            execution.status, execution.next_run_at = "waiting", resume
            return False
        run.status, run.finished_at = "succeeded", now
        _done(execution, step, phase, dict(run.output or {}))
        return True

    if step["type"] == "branch":
        branch = definitions.Branch.model_validate(step["params"])
        took = "then" if definitions.all_hold(branch.conditions, context) else "else"
        run.attempts, run.status, run.finished_at = 1, "succeeded", now
        run.input, run.output = {"conditions": step["params"]["conditions"]}, {"took": took}
        execution.outputs = {**execution.outputs, step["id"]: {"took": took}}
        execution.plan = [{"phase": "action", "step": s} for s in step.get(took, [])] + \
            execution.plan[1:]
        return True

    run.attempts += 1
    run.status, run.error = "running", None
    reference = f"workflow:{execution.id}:{step['id']}:{phase}"
    params: Any = None
    try:
        params = definitions.render(step.get("params", {}), context)
        checked = definitions.PARAMS[step["type"]].model_validate(params).model_dump()
        with session.begin_nested():  # a failing step's own writes go; its record stays
            output = ACTIONS[step["type"]](session, checked, execution, reference, settings)
    except Exception as exc:
        error = _error_text(exc)
        run.input = params if isinstance(params, dict) else None
        run.error = error
        retry = step.get("retry") or {}
        if run.attempts < int(retry.get("max_attempts", 1)):
            run.status = "retrying"
            wait = backoff(run.attempts, base=float(retry.get("backoff", 0)),
                           cap=RETRY_CAP_SECONDS, floor=0.5)
            execution.next_run_at = now + dt.timedelta(seconds=wait)
            if execution.status != "compensating":
                execution.status = "retrying"
            return execution.next_run_at <= now
        run.status, run.finished_at = "failed", now
        log.info("workflow_step_failed", execution=execution.id, step=step["id"], phase=phase,
                 error=error)
        if phase == "compensation":
            execution.plan = execution.plan[1:]
            if not execution.plan:
                _finish(session, execution, now)
                return False
            return True
        _give_up(execution, step, error, now)
        return execution.status not in FINISHED
    run.input, run.output = params, output
    run.status, run.finished_at = "succeeded", now
    _done(execution, step, phase, output)
    return True


def _done(execution: WorkflowExecution, step: dict[str, Any], phase: str,
          output: dict[str, Any]) -> None:
    execution.plan = execution.plan[1:]
    if phase == "action":
        execution.outputs = {**execution.outputs, step["id"]: output}
        execution.completed = [*execution.completed,
                               {"id": step["id"],
                                **({"compensate": step["compensate"]}
                                   if step.get("compensate") else {})}]
    if execution.status != "compensating":
        execution.status = "running"


def run_test(session: Session, workflow: Workflow, payload: dict[str, Any],
             settings: Settings) -> WorkflowExecution:
    """Run the workflow now, in the caller's transaction, with ``payload`` as its input; the
    execution is marked as a test. It goes as far as it can at once (up to a ``wait`` or a
    retry's backoff); the worker carries on from there."""
    execution = _new_execution(session, workflow, trigger_key=None, payload=payload, test=True)
    assert execution is not None
    session.flush()
    for _ in range(MAX_STEPS_PER_PASS):
        more = advance(session, execution, settings, utcnow())
        session.flush()
        if not more:
            break
    return execution


def _claim(db: Database, worker: str, now: dt.datetime, batch_size: int) -> list[str]:
    due = [WorkflowExecution.status.in_(ACTIVE), WorkflowExecution.next_run_at <= now,
           queue.lapsed(WorkflowExecution.lease_until, now)]
    with db.session(write=False, tenant=SYSTEM) as session:  # idle polls take no write lock
        if session.scalar(select(WorkflowExecution.id).where(*due).limit(1)) is None:
            return []
    with db.transaction(tenant=SYSTEM) as session:
        return queue.claim(
            session, WorkflowExecution,
            where=[*due, *not_paused(session, WorkflowExecution.organization_id)],
            order_by=[WorkflowExecution.next_run_at, WorkflowExecution.id], limit=batch_size,
            until=now + dt.timedelta(seconds=LEASE_SECONDS), owner=worker)


def _drive(db: Database, settings: Settings, execution_id: str, worker: str,
           now: dt.datetime | None) -> None:
    """Move one claimed execution on, a transaction per step, while it holds the lease."""
    for _ in range(MAX_STEPS_PER_PASS):
        at = now or utcnow()
        with db.transaction(tenant=SYSTEM) as session:
            execution = session.scalar(select(WorkflowExecution).where(
                WorkflowExecution.id == execution_id).with_for_update())
            if execution is None or execution.lease_owner != worker:
                return  # our lease lapsed and another worker has it
            set_tenant(session, execution.organization_id)
            execution.lease_until = at + dt.timedelta(seconds=LEASE_SECONDS)
            try:
                more = advance(session, execution, settings, at)
            except Exception:
                log.exception("workflow_step_crashed", execution=execution_id)
                more = False
            if not more:
                execution.lease_owner, execution.lease_until = None, None
        if not more:
            return


def run_due(db: Database, settings: Settings, *, now: dt.datetime | None = None,
            worker: str | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Claim due executions (new, resumed after a wait, or retrying) and run them; how many
    were claimed. ``now`` (tests) stands in for the clock."""
    worker = worker or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
    ids = _claim(db, worker, now or utcnow(), batch_size)
    for execution_id in ids:
        try:
            _drive(db, settings, execution_id, worker, now)
        except Exception:  # the database failed us: the lease lapses and it is tried again
            log.exception("workflow_execution_failed", execution=execution_id)
    return len(ids)
