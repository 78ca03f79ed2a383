"""The admin's workflows: list, new and edit (the trigger and the steps as JSON, checked by
the API's schemas and service), enable/disable, a test run, and executions step by step
(``/api/v1/workflows``, ``/api/v1/workflow-executions``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from mercato.core.errors import MercatoError, ValidationFailed
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.settings import Settings
from mercato.web.admin.catalog_forms import form_dict, form_text
from mercato.web.admin.products import Form_, page_params_of
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import errors_of, form_errors, redirect, render
from mercato.workflows import service
from mercato.workflows.schemas import TestRunIn, WorkflowIn, WorkflowUpdate

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = staff_page("workflows:read"), staff_page("workflows:write")
JSON_FIELDS = ("trigger", "steps")
EXAMPLE_TRIGGER = {"event": "order.created",
                   "conditions": [{"path": "data.order.total", "op": "gte", "value": "100"}]}
EXAMPLE_STEPS = [{"id": "tag", "type": "set_order_tag",
                  "params": {"order_id": "{{ data.order.id }}", "tag": "big-order"}}]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _parsed(form: Mapping[str, str], names: tuple[str, ...]) -> dict[str, Any]:
    """The JSON fields parsed; a field that is not JSON is a 422 naming it."""
    values: dict[str, Any] = {}
    errors = []
    for name in names:
        try:
            values[name] = json.loads(form.get(name, "") or "null")
        except ValueError as exc:
            errors.append({"field": name, "message": f"not valid JSON: {exc}"})
    if errors:
        raise ValidationFailed("Some fields are not valid JSON.", errors=errors)
    return values


def _problems(exc: Exception) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Errors beside the form field they fall in (``steps.1.params.url`` → Steps), each
    naming its full path."""
    named = []
    for error in errors_of(exc):
        path = str(error.get("field") or "")
        top = path.split(".", 1)[0]
        message = str(error.get("message") or "is invalid")
        named.append({"field": top, "message": f"{path}: {message}" if path != top else message})
    return form_errors(named)


def _form(request: Request, workflow: Any | None, values: Mapping[str, Any], *,
          status: int = 200, errors: Mapping[str, str] | None = None,
          error_list: list[dict[str, str]] | None = None,
          runs: list[Any] | None = None) -> HTMLResponse:
    staff: StaffSession = request.state.staff_session
    return render(request, "admin/workflows/form.html", {
        "workflow": workflow, "values": values, "can_write": staff.can("workflows:write"),
        "runs": runs or [], "errors": errors or {}, "error_list": error_list or []},
        status=status)


@router.get("/admin/workflows", response_class=HTMLResponse)
def workflows_index(request: Request, session: DbSession,
                    staff: StaffSession = Depends(READ)) -> Response:
    params = page_params_of(request)
    page = service.list_workflows(session, params)
    return render(request, "admin/workflows/index.html", {
        "rows": page.items, "can_write": staff.can("workflows:write"),
        "next_url": "/admin/workflows?" + urlencode({"cursor": page.next_cursor})
        if page.next_cursor else None,
        "first_url": "/admin/workflows" if params.cursor else None})


@router.get("/admin/workflows/new", response_class=HTMLResponse)
def workflow_new(request: Request, staff: StaffSession = Depends(WRITE)) -> Response:
    return _form(request, None, {"enabled": True, "trigger": _pretty(EXAMPLE_TRIGGER),
                                 "steps": _pretty(EXAMPLE_STEPS)})


@router.post("/admin/workflows", response_class=HTMLResponse)
def workflow_create(request: Request, session: DbSession, form: Form_,
                    staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/workflows`` from the form."""
    values = form_dict(form)
    try:
        body = WorkflowIn.model_validate({
            "name": form_text(form, "name"), "enabled": form.get("enabled") == "true",
            **_parsed(values, JSON_FIELDS)})
        workflow = service.create(session, body,
                                  allow_hosts=_settings(request).webhook_allow_hosts)
    except (ValidationError, MercatoError) as exc:
        errors, listed = _problems(exc)
        return _form(request, None, {**values, "enabled": form.get("enabled") == "true"},
                     status=422, errors=errors, error_list=listed)
    return redirect(f"/admin/workflows/{workflow.id}", flash=f"Workflow {workflow.name} saved.")


def _recent(session: DbSession, workflow_id: str) -> list[Any]:
    return service.list_executions(session, workflow_id, PageParams(limit=20, cursor=None)).items


@router.get("/admin/workflows/{workflow_id}", response_class=HTMLResponse)
def workflow_edit(workflow_id: str, request: Request, session: DbSession,
                  staff: StaffSession = Depends(READ)) -> Response:
    workflow = service.get(session, workflow_id)
    return _form(request, workflow, {
        "name": workflow.name, "enabled": workflow.enabled,
        "trigger": _pretty(workflow.trigger), "steps": _pretty(workflow.steps),
        "input": _pretty({"data": {}})}, runs=_recent(session, workflow.id))


@router.post("/admin/workflows/{workflow_id}", response_class=HTMLResponse)
def workflow_update(workflow_id: str, request: Request, session: DbSession, form: Form_,
                    staff: StaffSession = Depends(WRITE)) -> Response:
    """``PATCH /api/v1/workflows/{id}`` from the form (enabled is changed by its buttons)."""
    workflow = service.get(session, workflow_id)
    values = form_dict(form)
    try:
        body = WorkflowUpdate.model_validate({"name": form_text(form, "name"),
                                              **_parsed(values, JSON_FIELDS)})
        service.update_workflow(session, workflow, body,
                                allow_hosts=_settings(request).webhook_allow_hosts)
    except (ValidationError, MercatoError) as exc:
        errors, listed = _problems(exc)
        return _form(request, workflow, {**values, "enabled": workflow.enabled}, status=422,
                     errors=errors, error_list=listed, runs=_recent(session, workflow.id))
    return redirect(f"/admin/workflows/{workflow.id}", flash=f"Workflow {workflow.name} saved.")


@router.post("/admin/workflows/{workflow_id}/enable", response_class=HTMLResponse)
def workflow_enable(workflow_id: str, session: DbSession,
                    staff: StaffSession = Depends(WRITE)) -> Response:
    workflow = service.set_enabled(service.get(session, workflow_id), True)
    session.flush()
    return redirect(f"/admin/workflows/{workflow.id}", flash=f"{workflow.name} is enabled.")


@router.post("/admin/workflows/{workflow_id}/disable", response_class=HTMLResponse)
def workflow_disable(workflow_id: str, session: DbSession,
                     staff: StaffSession = Depends(WRITE)) -> Response:
    workflow = service.set_enabled(service.get(session, workflow_id), False)
    session.flush()
    return redirect(f"/admin/workflows/{workflow.id}", flash=f"{workflow.name} is disabled.")


@router.post("/admin/workflows/{workflow_id}/test-run", response_class=HTMLResponse)
def workflow_test_run(workflow_id: str, request: Request, session: DbSession, form: Form_,
                      staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/workflows/{id}/test-run`` from the form."""
    workflow = service.get(session, workflow_id)
    values = form_dict(form)
    try:
        body = TestRunIn.model_validate(_parsed(values, ("input",)))
        execution = service.run_test(session, workflow, body.input, _settings(request))
    except (ValidationError, MercatoError) as exc:
        errors, listed = _problems(exc)
        return _form(request, workflow, {
            "name": workflow.name, "enabled": workflow.enabled,
            "trigger": _pretty(workflow.trigger), "steps": _pretty(workflow.steps),
            "input": values.get("input", "")}, status=422, errors=errors, error_list=listed,
            runs=_recent(session, workflow.id))
    return redirect(f"/admin/workflow-executions/{execution.id}",
                    flash=f"Test run {execution.status}.")


@router.post("/admin/workflows/{workflow_id}/delete", response_class=HTMLResponse)
def workflow_delete(workflow_id: str, session: DbSession,
                    staff: StaffSession = Depends(WRITE)) -> Response:
    workflow = service.get(session, workflow_id)
    name = workflow.name
    service.delete(session, workflow)
    return redirect("/admin/workflows", flash=f"Workflow {name} deleted.")


@router.get("/admin/workflow-executions/{execution_id}", response_class=HTMLResponse)
def execution_page(execution_id: str, request: Request, session: DbSession,
                   staff: StaffSession = Depends(READ)) -> Response:
    execution = service.get_execution(session, execution_id)
    workflow = service.get(session, execution.workflow_id)
    return render(request, "admin/workflows/execution.html", {
        "execution": execution, "workflow": workflow,
        "steps": service.step_runs(session, execution.id), "pretty": _pretty})
