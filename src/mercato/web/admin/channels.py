"""The admin's channels pages (``/admin/channels``): sales channels with their connection's
health and last sync, connecting one (a form generated from the connector's credential and
settings fields; secrets are password inputs and never shown again), a connection's sync jobs
with live progress (an htmx-polled fragment), cancel, retry and history.

Same services and permissions as ``channels.api`` and inventory's channel routes:
``channels:read`` / ``channels:write``.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from starlette.datastructures import FormData

from mercato import channels, inventory
from mercato.channels.schemas import (
    API_VERSIONS,
    CREDENTIALS_OF,
    PER_ITEM,
    SETTINGS_OF,
    ConnectionIn,
    ConnectionSettings,
    JobIn,
)
from mercato.core.errors import MercatoError
from mercato.core.pagination import PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.inventory import ChannelCreate
from mercato.web.admin.settings import failed, flag, optional, posted, raw, text
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)

Form = Annotated[FormData, Depends(posted)]
ACTIVE = ("queued", "running")
JOB_LABELS = {"product_import": "Import products", "product_export": "Export products",
              "inventory_push": "Push stock", "order_pull": "Pull orders",
              "price_push": "Push prices", "subscribe_webhooks": "Subscribe webhooks"}


def _choices(annotation: Any) -> list[str]:
    return [str(v) for v in typing.get_args(annotation)]


CONNECTABLE = _choices(ConnectionIn.model_fields["kind"].annotation)
"""Channel kinds a connector can connect (the channel's kind is the connector's)."""
MODES = [("channel", "Mercato is the source of truth (push stock)"),
         ("system_of_record", "The platform is the source of truth")]
CHANNEL_KINDS = _choices(ChannelCreate.model_fields["kind"].annotation)


# -- forms generated from the connector's models ------------------------------------------------

def _plain(annotation: Any) -> Any:
    """``X | None`` as ``X``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _input(prefix: str, name: str, info: FieldInfo, *, secret: bool) -> dict[str, Any] | None:
    """One input for a model's field: a checkbox for a bool, a number, a choice for a
    Literal, a password input for a secret, a comma-separated text for a list of strings;
    ``None`` for a field a form cannot hold (a mapping), which keeps its stored value."""
    kind = _plain(info.annotation)
    if typing.get_origin(kind) is Literal:
        widget, options = "select", _choices(kind)
    elif typing.get_origin(kind) is list:
        widget, options = "list", []
    elif kind is bool:
        widget, options = "checkbox", []
    elif kind in (int, float):
        widget, options = "number", []
    elif kind is str:
        widget, options = ("password" if secret else "text"), []
    else:
        return None
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    hint = info.description
    if widget == "list":
        hint = f"{hint} Comma-separated."
    return {"name": f"{prefix}.{name}", "field": name,
            "label": name.replace("_", " ").capitalize(), "hint": hint,
            "widget": widget, "options": options, "required": info.is_required(),
            "default": default, "step": "any" if kind is float else "1"}


def credential_inputs(kind: str) -> list[dict[str, Any]]:
    model = CREDENTIALS_OF[kind]
    return [i for name, info in model.model_fields.items()
            if (i := _input("credentials", name, info, secret=True)) is not None]


def settings_inputs(kind: str) -> list[dict[str, Any]]:
    """The settings the kind uses, in the model's order."""
    used = SETTINGS_OF.get(kind, ())
    return [i for name, info in ConnectionSettings.model_fields.items()
            if name in used and (i := _input("settings", name, info, secret=False)) is not None]


def _from_inputs(form: FormData, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for i in inputs:
        if i["widget"] == "checkbox":
            values[i["field"]] = flag(form, i["name"])
        elif i["widget"] == "list":
            values[i["field"]] = [v.strip() for v in text(form, i["name"]).split(",")
                                  if v.strip()]
        elif text(form, i["name"]):
            values[i["field"]] = text(form, i["name"])
    return values


def _connection_body(form: FormData, kind: str, stored: dict[str, Any] | None) -> dict[str, Any]:
    secrets = _from_inputs(form, credential_inputs(kind))
    settings = {**{k: v for k, v in (stored or {}).items()
                   if k not in {i["field"] for i in settings_inputs(kind)}},
                **_from_inputs(form, settings_inputs(kind))}
    body: dict[str, Any] = {
        "kind": kind, "mode": text(form, "mode") or "channel", "account": text(form, "account"),
        "api_base": optional(form, "api_base"), "settings": settings,
        "enabled": flag(form, "enabled"),
        # No secret typed on a change: the stored ones are kept (the API's "omitted").
        "credentials": secrets or None}
    if text(form, "api_version"):
        body["api_version"] = text(form, "api_version")
    return body


def _connection_values(connection: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"mode": connection.mode, "account": connection.account,
                              "api_version": connection.api_version,
                              "api_base": connection.api_base or "",
                              "enabled": connection.enabled}
    for i in settings_inputs(connection.kind):
        stored = (connection.settings or {}).get(i["field"], i["default"])
        values[i["name"]] = _shown(stored)
    return values


def _new_values(kind: str) -> dict[str, Any]:
    values: dict[str, Any] = {"mode": "channel", "enabled": True,
                              "api_version": API_VERSIONS.get(kind, "")}
    for i in settings_inputs(kind):
        values[i["name"]] = _shown(i["default"])
    return values


def _shown(value: Any) -> Any:
    """A setting as its input shows it (a list comma-separated)."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else value


def _form_values(form: FormData, kind: str) -> dict[str, Any]:
    """What was entered, secrets left out (a password input is never filled again)."""
    values = {k: v for k, v in raw(form).items() if not k.startswith("credentials.")}
    for i in [*settings_inputs(kind), {"name": "enabled", "widget": "checkbox"}]:
        if i["widget"] == "checkbox":
            values[i["name"]] = flag(form, i["name"])
    return values


# -- the channels' list -------------------------------------------------------------------------

def _index(session: Any, staff: StaffSession) -> dict[str, Any]:
    found = inventory.list_channels(session, PageParams(limit=250, cursor=None)).items
    connections = channels.connections_by_channel(session)
    rows = []
    for channel in found:
        connection = connections.get(channel.id)
        out = channels.connection_out(session, connection) if connection else None
        last = channels.job_history(session, connection.id, limit=1) if connection else []
        rows.append({"channel": channel, "connection": out, "last_job": last[0] if last else None,
                     "connectable": channel.kind in CONNECTABLE})
    return {"rows": rows, "channel_kinds": CHANNEL_KINDS, "job_labels": JOB_LABELS,
            "can_write": staff.can("channels:write")}


@router.get("/admin/channels", response_class=HTMLResponse)
def channels_index(request: Request, session: DbSession,
                   staff: StaffSession = Depends(staff_page("channels:read"))) -> Response:
    return render(request, "admin/channels/index.html", {
        **_index(session, staff), "values": {"kind": "shopify"}})


@router.post("/admin/channels", response_class=HTMLResponse)
def add_channel(request: Request, session: DbSession, form: Form,
                staff: StaffSession = Depends(staff_page("channels:write"))) -> Response:
    try:
        body = ChannelCreate.model_validate({
            "name": text(form, "name"), "kind": text(form, "kind"),
            "locations": [w for w in text(form, "locations").replace(",", " ").split() if w]})
        channel = inventory.create_channel(session, body)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return failed(request, "admin/channels/index.html", _index(session, staff), exc,
                      form=raw(form))
    where = f"/admin/channels/{channel.id}"
    return redirect(where, flash=f"The channel {channel.name} is added"
                    + (": connect it to its account." if channel.kind in CONNECTABLE else "."))


# -- a channel and its connection ---------------------------------------------------------------

def _channel_page(session: Any, staff: StaffSession, channel_id: str) -> dict[str, Any]:
    channel = inventory.get_channel(session, channel_id)
    connection = channels.connections_by_channel(session).get(channel.id)
    return {
        "channel": channel, "connectable": channel.kind in CONNECTABLE,
        "connection": channels.connection_out(session, connection) if connection else None,
        "jobs": channels.job_history(session, connection.id, limit=50) if connection else [],
        "job_kinds": [(k, JOB_LABELS.get(k, k.replace("_", " ")))
                      for k in channels.job_kinds(channel.kind) if k not in PER_ITEM],
        "job_labels": JOB_LABELS,
        "credential_inputs": credential_inputs(channel.kind) if channel.kind in CONNECTABLE
        else [],
        "settings_inputs": settings_inputs(channel.kind),
        "modes": MODES if channel.kind in ("shopify", "binderpos") else MODES[:1],
        "can_write": staff.can("channels:write")}


@router.get("/admin/channels/{channel_id}", response_class=HTMLResponse)
def channel_page(request: Request, channel_id: str, session: DbSession,
                 staff: StaffSession = Depends(staff_page("channels:read"))) -> Response:
    values = _channel_page(session, staff, channel_id)
    connection = channels.connections_by_channel(session).get(channel_id)
    return render(request, "admin/channels/channel.html", {
        **values,
        "values": _connection_values(connection) if connection
        else _new_values(values["channel"].kind)})


@router.post("/admin/channels/{channel_id}/connection", response_class=HTMLResponse)
def connect(request: Request, channel_id: str, session: DbSession, form: Form,
            staff: StaffSession = Depends(staff_page("channels:write"))) -> Response:
    channel = inventory.get_channel(session, channel_id)
    existing = channels.connections_by_channel(session).get(channel_id)
    before = (existing.settings or {}).get("webhook_url") if existing else None
    try:
        body = ConnectionIn.model_validate(_connection_body(
            form, channel.kind, existing.settings if existing else None))
        connection, created = channels.connect(session, channel_id, body,
                                               request.app.state.settings)
        channels.subscribe_if_changed(session, connection, before)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        return failed(request, "admin/channels/channel.html",
                      _channel_page(session, staff, channel_id), exc,
                      form=_form_values(form, channel.kind))
    return redirect(f"/admin/channels/{channel_id}",
                    flash=f"{channel.name} is connected to {connection.account}." if created
                    else "The connection is saved.")


@router.post("/admin/channels/{channel_id}/disconnect", response_class=HTMLResponse)
def disconnect(request: Request, channel_id: str, session: DbSession,
               staff: StaffSession = Depends(staff_page("channels:write"))) -> Response:
    channels.disconnect(session, channel_id)
    return redirect(f"/admin/channels/{channel_id}",
                    flash="Disconnected: its credentials, mappings and job history are deleted.")


@router.post("/admin/channels/{channel_id}/jobs", response_class=HTMLResponse)
def start_job(request: Request, channel_id: str, session: DbSession, form: Form,
              staff: StaffSession = Depends(staff_page("channels:write"))) -> Response:
    try:
        connection = channels.get_connection(session, channel_id)
        body = JobIn.model_validate({"kind": text(form, "kind")})
        channels.supports(connection.kind, body.kind)
        job = channels.create_job(session, connection, body.kind, params=body.params,
                                  created_by=staff.principal.id,
                                  exclusive=body.kind not in PER_ITEM)
    except (ValidationError, MercatoError) as exc:
        session.rollback()
        values = _channel_page(session, staff, channel_id)
        existing = channels.connections_by_channel(session).get(channel_id)
        return failed(request, "admin/channels/channel.html", values, exc,
                      form={**(_connection_values(existing) if existing
                               else _new_values(values["channel"].kind)),
                            "kind": text(form, "kind")})
    return redirect(f"/admin/channels/jobs/{job.id}",
                    flash=f"{JOB_LABELS.get(job.kind, job.kind)} is queued.")


# -- sync jobs ----------------------------------------------------------------------------------

def _progress(job: Any) -> dict[str, Any]:
    finished = job.status not in ACTIVE
    completed = job.status in ("succeeded", "completed_with_errors")
    percent = 100 if completed else 0
    if job.total and job.status != "succeeded":
        percent = min(100, int(job.done * 100 / job.total))
    return {"job": job, "percent": percent, "active": not finished,
            "label": JOB_LABELS.get(job.kind, job.kind.replace("_", " "))}


def _job_page(session: Any, staff: StaffSession, job_id: str) -> dict[str, Any]:
    job = channels.get_job(session, job_id)
    connection = next((c for c in channels.connections_by_channel(session).values()
                       if c.id == job.connection_id), None)
    return {**_progress(job), "errors_of_job": channels.job_errors(session, job.id),
            "channel_id": connection.channel_id if connection else None,
            "can_write": staff.can("channels:write")}


@router.get("/admin/channels/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, session: DbSession,
             staff: StaffSession = Depends(staff_page("channels:read"))) -> Response:
    return render(request, "admin/channels/job.html", _job_page(session, staff, job_id))


@router.get("/admin/channels/jobs/{job_id}/progress", response_class=HTMLResponse)
def job_progress(request: Request, job_id: str, session: DbSession,
                 staff: StaffSession = Depends(staff_page("channels:read"))) -> Response:
    """The progress bar alone: what the page polls while the job runs."""
    return render(request, "admin/channels/_progress.html",
                  _progress(channels.get_job(session, job_id)))


@router.post("/admin/channels/jobs/{job_id}/cancel", response_class=HTMLResponse)
def cancel_job(request: Request, job_id: str, session: DbSession,
               staff: StaffSession = Depends(staff_page("channels:write"))) -> Response:
    try:
        job = channels.cancel_job(session, channels.get_job(session, job_id))
    except MercatoError as exc:
        session.rollback()
        return failed(request, "admin/channels/job.html", _job_page(session, staff, job_id),
                      exc, form={})
    return redirect(f"/admin/channels/jobs/{job_id}",
                    flash="The job is cancelled." if job.status == "cancelled"
                    else "The job stops after the page in hand.")


@router.post("/admin/channels/jobs/{job_id}/retry", response_class=HTMLResponse)
def retry_job(request: Request, job_id: str, session: DbSession,
              staff: StaffSession = Depends(staff_page("channels:write"))) -> Response:
    try:
        again = channels.retry_job(session, channels.get_job(session, job_id),
                                   staff.principal.id)
    except MercatoError as exc:
        session.rollback()
        return failed(request, "admin/channels/job.html", _job_page(session, staff, job_id),
                      exc, form={})
    return redirect(f"/admin/channels/jobs/{again.id}", flash="The job runs again.")
