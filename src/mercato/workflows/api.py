"""Routes: ``/api/v1/workflows`` (definitions, enable/disable, test runs, their executions) and
``/api/v1/workflow-executions/{id}`` (one execution, step by step)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mercato.core.auth import require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute
from mercato.settings import Settings
from mercato.workflows import service
from mercato.workflows.models import Workflow, WorkflowExecution
from mercato.workflows.schemas import (
    ExecutionDetail,
    ExecutionOut,
    StepRunOut,
    TestRunIn,
    WorkflowIn,
    WorkflowOut,
    WorkflowUpdate,
)

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["workflows"])
READ, WRITE = require("workflows:read"), require("workflows:write")
TAKEN: dict[int | str, dict[str, str]] = {409: {"description": "The name is taken"}}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _out(workflow: Workflow, response: Response) -> WorkflowOut:
    set_etag(response, workflow)
    return WorkflowOut.model_validate(workflow)


def detail(session: DbSession, execution: WorkflowExecution) -> ExecutionDetail:
    return ExecutionDetail(
        **ExecutionOut.model_validate(execution).model_dump(),
        steps=[StepRunOut.model_validate(run) for run in service.step_runs(session,
                                                                          execution.id)])


@router.post("/workflows", response_model=WorkflowOut, status_code=status.HTTP_201_CREATED,
             responses=TAKEN, summary="Add a workflow: a trigger and its steps")
def create_workflow(body: WorkflowIn, request: Request, response: Response, *,
                    _: Principal = Depends(WRITE), session: DbSession) -> WorkflowOut:
    workflow = service.create(session, body,
                              allow_hosts=_settings(request).webhook_allow_hosts)
    return _out(workflow, response)


@router.get("/workflows", response_model=Page[WorkflowOut], summary="The workflows, newest first")
def list_workflows(*, enabled: bool | None = Query(None),
                   params: PageParams = Depends(page_params), _: Principal = Depends(READ),
                   session: DbSession) -> Page[WorkflowOut]:
    return service.list_workflows(session, params, enabled=enabled).to_page(WorkflowOut)


@router.get("/workflows/{workflow_id}", response_model=WorkflowOut)
def get_workflow(workflow_id: str, response: Response, *, _: Principal = Depends(READ),
                 session: DbSession) -> WorkflowOut:
    return _out(service.get(session, workflow_id), response)


@router.patch("/workflows/{workflow_id}", response_model=WorkflowOut, responses=TAKEN,
              summary="Change a workflow (If-Match supported); running executions keep the "
                      "steps they started with")
def update_workflow(workflow_id: str, body: WorkflowUpdate, request: Request,
                    response: Response, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> WorkflowOut:
    workflow = service.get(session, workflow_id)
    check_if_match(request, workflow)
    service.update_workflow(session, workflow, body,
                            allow_hosts=_settings(request).webhook_allow_hosts)
    return _out(workflow, response)


@router.delete("/workflows/{workflow_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a workflow and its executions' records")
def delete_workflow(workflow_id: str, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> Response:
    service.delete(session, service.get(session, workflow_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/workflows/{workflow_id}/enable", response_model=WorkflowOut,
             summary="Start reacting to the trigger")
def enable_workflow(workflow_id: str, response: Response, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> WorkflowOut:
    workflow = service.set_enabled(service.get(session, workflow_id), True)
    session.flush()
    return _out(workflow, response)


@router.post("/workflows/{workflow_id}/disable", response_model=WorkflowOut,
             summary="Stop reacting to the trigger (running executions finish)")
def disable_workflow(workflow_id: str, response: Response, *, _: Principal = Depends(WRITE),
                     session: DbSession) -> WorkflowOut:
    workflow = service.set_enabled(service.get(session, workflow_id), False)
    session.flush()
    return _out(workflow, response)


@router.post("/workflows/{workflow_id}/test-run", response_model=ExecutionDetail,
             status_code=status.HTTP_201_CREATED,
             summary="Run the workflow now with this input (enabled or not), recorded as a "
                     "test; a wait or a retry's backoff is left to the worker")
def run_test(workflow_id: str, body: TestRunIn, request: Request, *,
             _: Principal = Depends(WRITE), session: DbSession) -> ExecutionDetail:
    execution = service.run_test(session, service.get(session, workflow_id), body.input,
                                 _settings(request))
    return detail(session, execution)


@router.get("/workflows/{workflow_id}/executions", response_model=Page[ExecutionOut],
            summary="The workflow's executions, newest first")
def list_executions(workflow_id: str, *, params: PageParams = Depends(page_params),
                    _: Principal = Depends(READ), session: DbSession) -> Page[ExecutionOut]:
    return service.list_executions(session, workflow_id, params).to_page(ExecutionOut)


@router.get("/workflow-executions/{execution_id}", response_model=ExecutionDetail,
            summary="One execution and its steps (compensations after them)")
def get_execution(execution_id: str, *, _: Principal = Depends(READ),
                  session: DbSession) -> ExecutionDetail:
    return detail(session, service.get_execution(session, execution_id))
