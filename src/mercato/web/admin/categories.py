"""The admin's categories pages: the tree as a list, a new category (under a parent), and a
category's edit (rename, re-slug, move) and delete, through ``/api/v1/categories``' own
service functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from mercato.catalog import service
from mercato.catalog.schemas import CategoryCreate, CategoryUpdate
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
        "rows": [{"id": c.id, "name": c.name, "slug": c.slug,
                  "parent": names.get(c.parent_id or "", "")
                  if c.parent_id else ""} for c in page.items],
        "can_write": staff.can("catalog:write"),
        "next_url": "/admin/categories?" + urlencode({"cursor": page.next_cursor})
        if page.next_cursor else None,
        "first_url": "/admin/categories" if params.cursor else None})


def _form(request: Request, session: DbSession, values: Mapping[str, str], *,
          status: int = 200, errors: Mapping[str, str] | None = None,
          error_list: list[dict[str, str]] | None = None,
          category: Any | None = None) -> HTMLResponse:
    """The new-category form, or ``category``'s edit form (its own subtree is no parent)."""
    parents: list[Any] = list(service.list_categories(session, PageParams(MAX_LIMIT, None)).items)
    below = set(service.descendants(session, category)) if category is not None else set()
    return render(request, "admin/categories/form.html", {
        "parents": [(c.id, c.name) for c in parents if c.id not in below], "values": values,
        "category": category, "errors": errors or {}, "error_list": error_list or []},
        status=status)


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


@router.get("/admin/categories/{category_id}", response_class=HTMLResponse)
def category_edit(category_id: str, request: Request, session: DbSession,
                  staff: StaffSession = Depends(WRITE)) -> Response:
    category = service.get_category(session, category_id)
    return _form(request, session, {"name": category.name, "slug": category.slug,
                                    "parent": category.parent_id or ""}, category=category)


@router.post("/admin/categories/{category_id}", response_class=HTMLResponse)
def category_update(category_id: str, request: Request, session: DbSession, form: Form_,
                    staff: StaffSession = Depends(WRITE)) -> Response:
    """``PATCH /api/v1/categories/{id}`` from the form (an empty parent is the top level)."""
    category = service.get_category(session, category_id)
    try:
        service.update_category(session, category, CategoryUpdate.model_validate({
            "name": form_text(form, "name"), "slug": form_text(form, "slug"),
            "parent": form_text(form, "parent") or None}))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        errors, listed = problems_of(exc)
        return _form(request, session, form_dict(form), status=422, errors=errors,
                     error_list=listed, category=category)
    return redirect("/admin/categories", flash=f"Category {category.name} saved.")


@router.post("/admin/categories/{category_id}/delete", response_class=HTMLResponse)
def category_delete(category_id: str, request: Request, session: DbSession,
                    staff: StaffSession = Depends(WRITE)) -> Response:
    """``DELETE /api/v1/categories/{id}``: a category holding products or subcategories stays,
    and the page says why."""
    category = service.get_category(session, category_id)
    try:
        service.delete_category(session, category)
        session.flush()
    except MercatoError as exc:
        errors, listed = problems_of(exc)
        return _form(request, session, {"name": category.name, "slug": category.slug,
                                        "parent": category.parent_id or ""},
                     status=exc.status, errors=errors, error_list=listed, category=category)
    return redirect("/admin/categories", flash=f"Category {category.name} deleted.")
