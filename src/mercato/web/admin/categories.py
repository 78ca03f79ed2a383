"""The admin's categories pages: the tree as a list, and a new category (under a parent).

The catalog has no category edit (``/api/v1/categories`` creates and reads only), so neither
do these pages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from mercato.catalog import service
from mercato.catalog.schemas import CategoryCreate
from mercato.core.errors import MercatoError
from mercato.core.pagination import MAX_LIMIT, PageParams
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.admin.catalog_forms import form_dict, form_text, problems_of
from mercato.web.admin.products import Form_, page_params_of
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = staff_page("catalog:read"), staff_page("catalog:write")


@router.get("/admin/categories", response_class=HTMLResponse)
def categories_index(request: Request, session: DbSession,
                     staff: StaffSession = Depends(READ)) -> Response:
    params = page_params_of(request)
    page = service.list_categories(session, params)
    names = {c.id: c.name for c in page.items}
    return render(request, "admin/categories/index.html", {
        "rows": [{"name": c.name, "slug": c.slug, "parent": names.get(c.parent_id or "", "")
                  if c.parent_id else ""} for c in page.items],
        "can_write": staff.can("catalog:write"),
        "next_url": "/admin/categories?" + urlencode({"cursor": page.next_cursor})
        if page.next_cursor else None,
        "first_url": "/admin/categories" if params.cursor else None})


def _form(request: Request, session: DbSession, values: Mapping[str, str], *,
          status: int = 200, errors: Mapping[str, str] | None = None,
          error_list: list[dict[str, str]] | None = None) -> HTMLResponse:
    parents: list[Any] = list(service.list_categories(session, PageParams(MAX_LIMIT, None)).items)
    return render(request, "admin/categories/form.html", {
        "parents": [(c.id, c.name) for c in parents], "values": values,
        "errors": errors or {}, "error_list": error_list or []}, status=status)


@router.get("/admin/categories/new", response_class=HTMLResponse)
def category_new(request: Request, session: DbSession,
                 staff: StaffSession = Depends(WRITE)) -> Response:
    return _form(request, session, {})


@router.post("/admin/categories", response_class=HTMLResponse)
def category_create(request: Request, session: DbSession, form: Form_,
                    staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/categories`` from the form."""
    try:
        category = service.create_category(session, CategoryCreate.model_validate({
            "name": form_text(form, "name"), "slug": form_text(form, "slug"),
            "parent": form_text(form, "parent") or None}))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        errors, listed = problems_of(exc)
        return _form(request, session, form_dict(form), status=422, errors=errors,
                     error_list=listed)
    return redirect("/admin/categories", flash=f"Category {category.name} saved.")
