"""The admin's digital delivery pages: a digital variant's delivery settings, its licence-key
pool (bulk upload of keys as text or a file) and its files; and the order page's delivery
buttons (retry, mark delivered). The same service calls, with the same permissions, as
``/api/v1/digital``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from mercato.core.errors import MercatoError
from mercato.core.uow import DbSession, MercatoRoute
from mercato.digital import service
from mercato.digital.schemas import GoodIn
from mercato.web.admin.catalog_forms import form_text, problems_of
from mercato.web.admin.products import Form_
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import form_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = staff_page("catalog:read"), staff_page("catalog:write")
FULFIL = staff_page("fulfillment:write")
METHODS = [("key_pool", "Licence keys from the pool"), ("download", "Download links"),
           ("email", "Email with the message below"), ("webhook", "Webhook (POST to a URL)"),
           ("manual", "Manual (staff deliver it)")]


def _page(request: Request, session: Any, variant_id: str, *, status: int = 200,
          values: dict[str, Any] | None = None,
          errors: list[dict[str, Any]] | None = None) -> HTMLResponse:
    item = service.digital_item(session, variant_id, reading=True)
    good = service.get_good(session, variant_id)
    by_field, listed = form_errors(errors or [])
    staff: StaffSession = request.state.staff_session
    shown = values or {"method": good.method, "webhook_url": good.webhook_url or "",
                       "message": good.message, "alert_email": good.alert_email or "",
                       "low_pool_threshold": str(good.low_pool_threshold),
                       "link_ttl_seconds": str(good.link_ttl_seconds)}
    return render(request, "admin/digital/variant.html", {
        "item": item, "pool": service.pool(session, variant_id),
        "files": service.list_files(session, variant_id), "methods": METHODS,
        "values": shown, "errors": by_field, "error_list": listed,
        "can_write": staff.can("catalog:write") and item.digital}, status=status)


@router.get("/admin/digital/variants/{variant_id}", response_class=HTMLResponse)
def variant_page(variant_id: str, request: Request, session: DbSession,
                 staff: StaffSession = Depends(READ)) -> Response:
    return _page(request, session, variant_id)


@router.post("/admin/digital/variants/{variant_id}", response_class=HTMLResponse)
def variant_save(variant_id: str, request: Request, session: DbSession, form: Form_,
                 staff: StaffSession = Depends(WRITE)) -> Response:
    """``PUT /api/v1/digital/variants/{id}`` from the form."""
    values = {name: form_text(form, name) for name in (
        "method", "webhook_url", "message", "alert_email", "low_pool_threshold",
        "link_ttl_seconds")}
    try:
        service.set_good(session, variant_id, GoodIn.model_validate({
            **values, "webhook_url": values["webhook_url"] or None,
            "alert_email": values["alert_email"] or None}), request.app.state.settings)
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return _page(request, session, variant_id, status=422, values=values,
                     errors=problems_of(exc)[1])
    return redirect(f"/admin/digital/variants/{variant_id}", flash="Delivery settings saved.")


@router.post("/admin/digital/variants/{variant_id}/keys", response_class=HTMLResponse)
def keys_upload(variant_id: str, request: Request, session: DbSession, form: Form_,
                staff: StaffSession = Depends(WRITE)) -> Response:
    """Keys pasted (one a line) and/or a text or CSV file: ``POST .../keys`` of the API."""
    text = form_text(form, "keys")
    upload = form.get("file")
    if isinstance(upload, UploadFile) and upload.filename:
        raw = upload.file.read(service.MAX_FILE_BYTES + 1)
        try:
            text = raw.decode("utf-8-sig") + "\n" + text
        except UnicodeDecodeError:
            return _page(request, session, variant_id, status=422, errors=[
                {"field": "file", "message": "The file is not UTF-8 text."}])
    try:
        added = service.add_keys(session, variant_id, service.parse_key_text(text),
                                 field="keys")
        session.flush()
    except MercatoError as exc:
        return _page(request, session, variant_id, status=422,
                     errors=[{"field": "keys", "message": exc.detail}])
    note = f"{added.added} key(s) added"
    if added.duplicates:
        note += f"; {len(added.duplicates)} duplicate(s) refused"
    return redirect(f"/admin/digital/variants/{variant_id}",
                    flash=f"{note}. {added.pool.remaining} key(s) remain in the pool.")


@router.post("/admin/digital/variants/{variant_id}/files", response_class=HTMLResponse)
def file_upload(variant_id: str, request: Request, session: DbSession, form: Form_,
                staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/digital/variants/{id}/files`` from the form."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, session, variant_id, status=422,
                     errors=[{"field": "file", "message": "Choose a file."}])
    try:
        service.add_file(session, variant_id, filename=upload.filename,
                         content_type=upload.content_type or "",
                         data=upload.file.read(service.MAX_FILE_BYTES + 1))
        session.flush()
    except MercatoError as exc:
        return _page(request, session, variant_id, status=422,
                     errors=[{"field": "file", "message": exc.detail}])
    return redirect(f"/admin/digital/variants/{variant_id}", flash="File kept.")


@router.post("/admin/digital/deliveries/{delivery_id}/retry", response_class=HTMLResponse)
def delivery_retry(delivery_id: str, request: Request, session: DbSession,
                   staff: StaffSession = Depends(FULFIL)) -> Response:
    """``POST /api/v1/digital/deliveries/{id}/retry``; back to the order."""
    delivery = service.retry(session, delivery_id, request.app.state.settings)
    return redirect(f"/admin/orders/{delivery.order_id}",
                    flash=f"Delivery of {delivery.sku}: {delivery.status}.")


@router.post("/admin/digital/deliveries/{delivery_id}/delivered", response_class=HTMLResponse)
def delivery_delivered(delivery_id: str, request: Request, session: DbSession,
                       staff: StaffSession = Depends(FULFIL)) -> Response:
    """``POST /api/v1/digital/deliveries/{id}/delivered``; back to the order."""
    delivery = service.mark_delivered(session, delivery_id, None)
    return redirect(f"/admin/orders/{delivery.order_id}",
                    flash=f"Delivery of {delivery.sku} marked delivered.")
