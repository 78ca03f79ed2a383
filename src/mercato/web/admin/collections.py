"""The admin's collections pages: list, new, edit and delete (``/api/v1/collections``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from mercato.catalog import service
from mercato.catalog.schemas import CollectionCreate, CollectionUpdate
from mercato.core.errors import MercatoError
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.admin.catalog_forms import form_dict, form_text, problems_of
from mercato.web.admin.products import Form_, page_params_of
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = staff_page("catalog:read"), staff_page("catalog:write")


@router.get("/admin/collections", response_class=HTMLResponse)
def collections_index(request: Request, session: DbSession,
                      staff: StaffSession = Depends(READ)) -> Response:
    params = page_params_of(request)
    page = service.list_collections(session, params)
    return render(request, "admin/collections/index.html", {
        "rows": page.items, "can_write": staff.can("catalog:write"),
        "next_url": "/admin/collections?" + urlencode({"cursor": page.next_cursor})
        if page.next_cursor else None,
        "first_url": "/admin/collections" if params.cursor else None})


def _form(request: Request, collection: Any | None, values: Mapping[str, str], *,
          status: int = 200, errors: Mapping[str, str] | None = None,
          error_list: list[dict[str, str]] | None = None) -> HTMLResponse:
    staff: StaffSession = request.state.staff_session
    return render(request, "admin/collections/form.html", {
        "collection": collection, "values": values, "can_write": staff.can("catalog:write"),
        "errors": errors or {}, "error_list": error_list or []}, status=status)


@router.get("/admin/collections/new", response_class=HTMLResponse)
def collection_new(request: Request, staff: StaffSession = Depends(WRITE)) -> Response:
    return _form(request, None, {})


@router.post("/admin/collections", response_class=HTMLResponse)
def collection_create(request: Request, session: DbSession, form: Form_,
                      staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/collections`` from the form."""
    try:
        collection = service.create_collection(session, CollectionCreate.model_validate({
            "name": form_text(form, "name"), "slug": form_text(form, "slug"),
            "description": form_text(form, "description")}))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        errors, listed = problems_of(exc)
        return _form(request, None, form_dict(form), status=422, errors=errors,
                     error_list=listed)
    return redirect(f"/admin/collections/{collection.id}",
                    flash=f"Collection {collection.name} saved.")


@router.get("/admin/collections/{collection_id}", response_class=HTMLResponse)
def collection_edit(collection_id: str, request: Request, session: DbSession,
                    staff: StaffSession = Depends(READ)) -> Response:
    collection = service.get_collection(session, collection_id)
    return _form(request, collection, {"name": collection.name, "slug": collection.slug,
                                       "description": collection.description})


@router.post("/admin/collections/{collection_id}", response_class=HTMLResponse)
def collection_update(collection_id: str, request: Request, session: DbSession, form: Form_,
                      staff: StaffSession = Depends(WRITE)) -> Response:
    """``PATCH /api/v1/collections/{id}`` from the form."""
    collection = service.get_collection(session, collection_id)
    try:
        service.update_collection(session, collection, CollectionUpdate.model_validate({
            "name": form_text(form, "name"), "description": form_text(form, "description")}))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        errors, listed = problems_of(exc)
        return _form(request, collection, {**form_dict(form), "slug": collection.slug},
                     status=422, errors=errors, error_list=listed)
    return redirect(f"/admin/collections/{collection.id}",
                    flash=f"Collection {collection.name} saved.")


@router.post("/admin/collections/{collection_id}/delete", response_class=HTMLResponse)
def collection_delete(collection_id: str, request: Request, session: DbSession,
                      staff: StaffSession = Depends(WRITE)) -> Response:
    """``DELETE /api/v1/collections/{id}``: its products stay."""
    collection = service.get_collection(session, collection_id)
    name = collection.name
    service.delete_collection(session, collection)
    return redirect("/admin/collections", flash=f"Collection {name} deleted.")
