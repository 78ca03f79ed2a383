"""The admin's product types pages: list, new, edit (JSON Schema attributes as JSON text,
checked as ``/api/v1/product-types`` checks them), and installing the built-in card types."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from mercato.catalog import service
from mercato.catalog.schemas import ProductTypeCreate, ProductTypeUpdate
from mercato.core.errors import MercatoError
from mercato.core.uow import DbSession, MercatoRoute
from mercato.web.admin.catalog_forms import form_dict, form_text, problems_of, properties
from mercato.web.admin.products import Form_, page_params_of
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import form_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = staff_page("catalog:read"), staff_page("catalog:write")
SCHEMAS = ("attributes_schema", "variant_attributes_schema")
EMPTY = json.dumps({"type": "object", "properties": {}}, indent=2)


@router.get("/admin/product-types", response_class=HTMLResponse)
def product_types_index(request: Request, session: DbSession,
                        staff: StaffSession = Depends(READ)) -> Response:
    params = page_params_of(request)
    page = service.list_product_types(session, params)
    rows = [{"id": t.id, "name": t.name, "slug": t.slug, "serialized": t.serialized,
             "digital": t.digital,
             "attributes": len(properties(t.attributes_schema)),
             "variant_attributes": len(properties(t.variant_attributes_schema))}
            for t in page.items]
    return render(request, "admin/product_types/index.html", {
        "rows": rows, "can_write": staff.can("catalog:write"),
        "next_url": "/admin/product-types?" + urlencode({"cursor": page.next_cursor})
        if page.next_cursor else None,
        "first_url": "/admin/product-types" if params.cursor else None})


@router.post("/admin/product-types/install", response_class=HTMLResponse)
def product_types_install(request: Request, session: DbSession,
                          staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/product-types/install`` (``tcg``): types already there are kept."""
    installed = service.install_type_set(session, "tcg")
    session.flush()
    return redirect("/admin/product-types",
                    flash=f"Card product types ready: {', '.join(t.name for t in installed)}.")


def _schema_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Errors inside a schema (``attributes_schema.properties.x``) or about what it would break
    (``products.<id>.attributes.x``) shown beside the schema's text field, with their path."""
    out = []
    for error in errors:
        field = str(error.get("field") or "")
        message = str(error.get("message") or "is invalid")
        for name, broken in zip(SCHEMAS, ("products.", "variants."), strict=True):
            if field.startswith(name + ".") or field.startswith(broken):
                path = field.removeprefix(name + ".")
                message, field = f"{path}: {message}", name
        out.append({"field": field, "message": message})
    return out


def _parse_schemas(form: Any) -> tuple[dict[str, Any], list[dict[str, str]]]:
    parsed: dict[str, Any] = {}
    problems = []
    for name in SCHEMAS:
        text = form_text(form, name)
        if not text:
            continue
        try:
            parsed[name] = json.loads(text)
        except ValueError as exc:
            problems.append({"field": name, "message": f"Not valid JSON: {exc}"})
            continue
        if not isinstance(parsed[name], dict):
            problems.append({"field": name, "message": "A schema is a JSON object ({...})."})
    return parsed, problems


def _form_page(request: Request, product_type: Any | None, values: Mapping[str, str], *,
               status: int = 200, errors: list[dict[str, Any]] | None = None) -> HTMLResponse:
    by_field, listed = form_errors(_schema_errors(errors or []))
    staff: StaffSession = request.state.staff_session
    return render(request, "admin/product_types/form.html", {
        "product_type": product_type, "can_write": staff.can("catalog:write"),
        "values": values, "errors": by_field, "error_list": listed}, status=status)


@router.get("/admin/product-types/new", response_class=HTMLResponse)
def product_type_new(request: Request, staff: StaffSession = Depends(WRITE)) -> Response:
    return _form_page(request, None, dict.fromkeys(SCHEMAS, EMPTY))


@router.post("/admin/product-types", response_class=HTMLResponse)
def product_type_create(request: Request, session: DbSession, form: Form_,
                        staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/product-types`` from the form."""
    values = form_dict(form)
    schemas, problems = _parse_schemas(form)
    if problems:
        return _form_page(request, None, values, status=422, errors=problems)
    try:
        product_type = service.create_product_type(session, ProductTypeCreate.model_validate({
            "name": form_text(form, "name"), "slug": form_text(form, "slug"),
            "serialized": form_text(form, "serialized") == "true",
            "digital": form_text(form, "digital") == "true", **schemas}))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        return _form_page(request, None, values, status=422, errors=problems_of(exc)[1])
    return redirect(f"/admin/product-types/{product_type.id}",
                    flash=f"Product type {product_type.name} saved.")


def _shown(product_type: Any) -> dict[str, str]:
    return {"name": product_type.name, "slug": product_type.slug,
            "version": str(product_type.version),
            "digital": "true" if product_type.digital else "",
            **{name: json.dumps(getattr(product_type, name), indent=2) for name in SCHEMAS}}


@router.get("/admin/product-types/{product_type_id}", response_class=HTMLResponse)
def product_type_edit(product_type_id: str, request: Request, session: DbSession,
                      staff: StaffSession = Depends(READ)) -> Response:
    product_type = service.get_product_type(session, product_type_id)
    return _form_page(request, product_type, _shown(product_type))


@router.post("/admin/product-types/{product_type_id}", response_class=HTMLResponse)
def product_type_update(product_type_id: str, request: Request, session: DbSession,
                        form: Form_, staff: StaffSession = Depends(WRITE)) -> Response:
    """``PATCH /api/v1/product-types/{id}``: a schema that existing products would no longer
    match is refused, with what would break."""
    product_type = service.get_product_type(session, product_type_id)
    values = {**form_dict(form), "slug": product_type.slug,
              "version": str(product_type.version)}
    if form_text(form, "version") != str(product_type.version):
        return _form_page(request, product_type, values, status=409, errors=[
            {"field": "", "message": "Someone changed this product type since you opened it: "
                                     "check the values below and save again."}])
    schemas, problems = _parse_schemas(form)
    if problems:
        return _form_page(request, product_type, values, status=422, errors=problems)
    try:
        service.update_product_type(session, product_type, ProductTypeUpdate.model_validate(
            {"name": form_text(form, "name"),
             "digital": form_text(form, "digital") == "true", **schemas}))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        errors = problems_of(exc)[1]
        if isinstance(exc, MercatoError) and exc.status == 409:
            errors = [{"field": "", "message": exc.detail}, *errors]
        return _form_page(request, product_type, values, status=422, errors=errors)
    return redirect(f"/admin/product-types/{product_type.id}",
                    flash=f"Product type {product_type.name} saved.")

