"""The admin's products pages: the list (search, filters, bulk edits, CSV export), the
editor, and a product's variants.

Every page calls what ``/api/v1/products`` calls (``catalog.service``) with the API's schemas
and permissions: the list is the JSON list's own query (one page of stored listings, same
filters, same cursor), a save is the API's create or update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache
from html import escape as esc
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from markupsafe import Markup
from pydantic import ValidationError
from starlette.datastructures import FormData, QueryParams

from mercato.catalog import export_rows, service
from mercato.catalog.schemas import (
    ProductCreate,
    ProductPageQuery,
    ProductUpdate,
    VariantIn,
    VariantUpdate,
)
from mercato.core.errors import MercatoError, NotFound, ValidationFailed
from mercato.core.pagination import MAX_LIMIT, PageParams, PageQuery
from mercato.core.uow import DbSession, MercatoRoute
from mercato.settings import Settings
from mercato.web.admin.catalog_forms import (
    attribute_fields,
    attribute_values,
    attributes_from_form,
    form_dict,
    form_text,
    media_directory,
    problems_of,
    properties,
    tags_of,
)
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import Formats, env, formats_of, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
READ, WRITE = staff_page("catalog:read"), staff_page("catalog:write")
STATUSES = [("draft", "Draft"), ("active", "Active"), ("archived", "Archived")]
SORTS = [("-created", "Newest first"), ("created", "Oldest first"), ("title", "Title, A to Z"),
         ("-title", "Title, Z to A"), ("price", "Price, lowest first"),
         ("-price", "Price, highest first"), ("-updated", "Recently changed")]
MAIN_FACETS = ("game", "rarity", "condition")
"""Enum attributes shown as filters first (a card store's); the other enums go under
"More filters"."""
LIST_FILTERS = ("q", "product_type", "status", "category", "collection", "tag", "vendor",
                "price_min", "price_max", "in_stock", "channel", "sort")
MAX_SELECTED = MAX_LIMIT


async def form_data(request: Request) -> FormData:
    """The submitted form (Starlette keeps it: the CSRF check read the same one)."""
    return await request.form()


Form_ = Annotated[FormData, Depends(form_data)]


def page_params_of(request: Request) -> PageParams:
    """``limit`` and ``cursor`` of a list page, checked as the API checks them."""
    try:
        query = PageQuery.model_validate({k: v for k, v in request.query_params.items()
                                          if k in ("limit", "cursor") and v})
    except ValidationError as exc:
        raise ValidationFailed("The page asked for is not valid.",
                               errors=problems_of(exc)[1]) from None
    return query.page


def _types(session: DbSession) -> list[Any]:
    """The organization's product types (one read; types are few)."""
    return list(service.list_product_types(session, PageParams(MAX_LIMIT, None)).items)


def _categories(session: DbSession) -> list[Any]:
    return list(service.list_categories(session, PageParams(MAX_LIMIT, None)).items)


def _collections(session: DbSession) -> list[Any]:
    return list(service.list_collections(session, PageParams(MAX_LIMIT, None)).items)


# -- the list ---------------------------------------------------------------------------------

def _enum_filters(types: Sequence[service.TypeChoice]) -> list[dict[str, Any]]:
    """A select per attribute some type declares with an ``enum`` (``service.default_facets``'
    choice of facets), its options the declared values."""
    found: dict[str, list[str]] = {}
    for product_type in types:
        for name, declared in product_type.enums:
            values = found.setdefault(name, [])
            values += [v for v in declared if v not in values]
    ordered = [n for n in MAIN_FACETS if n in found] + sorted(n for n in found
                                                               if n not in MAIN_FACETS)
    return [{"name": name, "label": name.replace("_", " ").capitalize(),
             "options": found[name], "main": name in MAIN_FACETS} for name in ordered]


def _render_filters(types: Sequence[service.TypeChoice], chosen: Mapping[str, str],
                    errors: Mapping[str, str]) -> Markup:
    # an autoescaping template's output is markup
    return Markup(env.get_template("admin/products/_filters.html").render(  # noqa: S704
        types=types, statuses=STATUSES, sorts=SORTS, enum_filters=_enum_filters(types),
        chosen=chosen, errors=errors))


@lru_cache(maxsize=512)
def _filters_form(types: tuple[service.TypeChoice, ...],
                  chosen: tuple[tuple[str, str], ...]) -> Markup:
    """The filter form without errors: it depends on nothing else (not on the member, not on
    the page's rows), and costs most of the page's template time, so it is rendered once per
    (types as they are now, choices) and kept."""
    return _render_filters(types, dict(chosen), {})


def _attribute_filters(query: QueryParams, settings: Settings) -> dict[str, list[str]]:
    """``attr.<name>=<value>`` filters (empty choices left out) within the API's bounds
    (``core.query.prefixed``: ``MERCATO_MAX_FILTERS`` names, ``MERCATO_MAX_FILTER_VALUES``
    values each)."""
    found: dict[str, list[str]] = {}
    for key, value in query.multi_items():
        if key.startswith("attr.") and len(key) > 5 and value != "":
            found.setdefault(key[5:], []).append(value)
    if len(found) > settings.max_filters:
        raise ValidationFailed("Too many filters.", errors=[
            {"field": "", "message": f"at most {settings.max_filters} attribute filters"}])
    errors = [{"field": f"attr.{name}", "message": f"at most {settings.max_filter_values} values"}
              for name, values in found.items() if len(values) > settings.max_filter_values]
    if errors:
        raise ValidationFailed("Too many values for a filter.", errors=errors)
    return found


def _filters_of(request: Request, query: QueryParams
                ) -> tuple[service.ProductFilters, PageParams]:
    """The list's filters and page from a query string, checked as the API checks
    ``GET /api/v1/products`` (``ProductPageQuery``, ``attr.<name>``); empty fields (a GET
    form sends every one) are no filter."""
    settings: Settings = request.app.state.settings
    attributes = _attribute_filters(query, settings)
    parsed = ProductPageQuery.model_validate(
        {k: v for k, v in query.items() if v != "" and not k.startswith("attr.")})
    return service.ProductFilters(**parsed.filter_values(), attributes=attributes), parsed.page


def _checked_filters(request: Request, query: QueryParams) -> service.ProductFilters:
    """``_filters_of`` without the page, bad filters an error page (422)."""
    try:
        return _filters_of(request, QueryParams(_filter_pairs(query)))[0]
    except ValidationError as exc:
        raise ValidationFailed("The filters are not valid.",
                               errors=problems_of(exc)[1]) from None


def _filter_pairs(query: QueryParams) -> list[tuple[str, str]]:
    """The query's filters (no page, sort or anything else)."""
    return [(k, v) for k, v in _kept_pairs(query, drop=("cursor", "limit", "sort"))
            if k in LIST_FILTERS or k.startswith("attr.")]


def _kept_pairs(query: QueryParams, *,
                drop: tuple[str, ...] = ("cursor",)) -> list[tuple[str, str]]:
    return [(k, v) for k, v in query.multi_items() if v != "" and k not in drop
            and k != "csrf_token"]


_TONES = {"active": "good", "archived": "bad"}


@lru_cache(maxsize=2048)
def _row_parts(item: str, fmt: Formats) -> tuple[str, str, str, str]:
    """A stored listing body as its row shows it: (id, title, type id, the cells after the
    type), escaped. Kept per body text, which changes whenever the product does: the list's
    first pages are seen again and again, and parsing fifty bodies is most of a page's cost."""
    body = orjson.loads(item)
    variants = body.get("variants") or []
    skus = [v["sku"] for v in variants]
    price = ""
    if variants:
        prices = [Decimal(v["price"]) for v in variants]
        low, high, currency = min(prices), max(prices), variants[0]["currency"]
        price = esc(fmt.money(low, currency) if high == low else
                    f"{fmt.money(low, currency)} \u2013 {fmt.money(high, currency)}")
    status = body["status"]
    rest = ("<td>" + esc(", ".join(skus[:3]))
            + (f" and {len(skus) - 3} more" if len(skus) > 3 else "")
            + f'</td><td><span class="badge badge-{_TONES.get(status, "warn")}">'
            + esc(status.capitalize()) + f"</span></td><td>{price}</td><td>"
            + esc(fmt.number(sum(int(v.get("available") or 0) for v in variants)))
            + "</td></tr>")
    return esc(body["id"]), esc(body["title"]), body["product_type_id"], rest


def _rows_html(items: Sequence[str], type_names: Mapping[str, str], fmt: Formats, *,
               can_write: bool, selected: frozenset[str]) -> Markup:
    """The table's rows from the listing's stored bodies: built here rather than by a template
    loop, because a list page shows fifty and a template costs more than the JSON it shows
    (WEB.md: a page costs at most 1.5x its JSON). Every value is escaped (``html.escape``)."""
    out = []
    for item in items:
        pid, title, type_id, rest = _row_parts(item, fmt)
        out.append(
            (f'<tr><td><input type="checkbox" name="ids" value="{pid}" aria-label="Select '
             f'{title}"{" checked" if pid in selected else ""}><input type="hidden" '
             f'name="page_ids" value="{pid}"></td>' if can_write else "<tr>")
            + f'<td class="wrap"><a href="/admin/products/{pid}">{title}</a></td><td>'
            + esc(type_names.get(type_id, "")) + "</td>" + rest)
    return Markup("\n".join(out))  # noqa: S704 (every value above went through esc)


def _list_page(request: Request, session: DbSession, query: QueryParams, *,
               status: int = 200, errors: dict[str, str] | None = None,
               error_list: list[dict[str, str]] | None = None,
               values: Mapping[str, str] | None = None,
               selected: frozenset[str] = frozenset()) -> HTMLResponse:
    """The list for ``query``: the JSON list's page (``service.list_products``), same filters,
    same cursor. Bad filters show beside their fields (422), with no rows."""
    types = service.type_choices(session)
    type_names = {t.id: t.name for t in types}
    rows = Markup()
    next_url = None
    problems: list[dict[str, str]] = []
    try:
        filters, page_params = _filters_of(request, query)
        page = service.list_products(session, filters, page_params)
    except (ValidationError, MercatoError) as exc:
        by_field, listed = problems_of(exc)
        problems = listed
        status = max(status, exc.status if isinstance(exc, MercatoError) else 422)
        errors = {**by_field, **(errors or {})}
    else:
        rows = _rows_html(page.items, type_names, formats_of(request), selected=selected,
                          can_write=request.state.staff_session.can("catalog:write"))
        if page.next_cursor:
            next_url = "/admin/products?" + urlencode(
                [*_kept_pairs(query), ("cursor", page.next_cursor)])
    filters_only = _filter_pairs(query)
    chosen = {k: v for k, v in query.items() if v != ""}
    form = (_filters_form(tuple(types), tuple(sorted(chosen.items()))) if not errors
            else _render_filters(types, chosen, errors))
    return render(request, "admin/products/index.html", {
        "rows": rows, "next_url": next_url, "first_url": "/admin/products?" + urlencode(
            _kept_pairs(query)) if query.get("cursor") else None,
        "filters_form": form, "statuses": STATUSES, "filtered": bool(filters_only),
        "export_url": "/admin/products/export.csv" + (
            "?" + urlencode(filters_only) if filters_only else ""),
        "facets_url": "/admin/products/facets" + (
            "?" + urlencode(filters_only) if filters_only else ""),
        "back": urlencode(_kept_pairs(query, drop=())),
        "can_write": request.state.staff_session.can("catalog:write"),
        "errors": errors or {}, "error_list": [*(error_list or []), *problems],
        "values": values or {}, "selected": selected}, status=status, block="rows")


@router.get("/admin/products", response_class=HTMLResponse)
def products_index(request: Request, session: DbSession,
                   staff: StaffSession = Depends(READ)) -> Response:
    return _list_page(request, session, request.query_params)


@router.post("/admin/products/bulk", response_class=HTMLResponse)
def products_bulk(request: Request, session: DbSession,
                  ids: Annotated[list[str] | None, Form()] = None,
                  page_ids: Annotated[list[str] | None, Form()] = None,
                  scope: Annotated[str, Form()] = "selected",
                  set_status: Annotated[str, Form()] = "",
                  set_price: Annotated[str, Form()] = "",
                  back: Annotated[str, Form()] = "",
                  staff: StaffSession = Depends(WRITE)) -> Response:
    """The selected products' (or, ``scope=page``, the page's) status, and every variant's
    price, set through the API's own update of each (``service.update_product`` /
    ``update_variant``), all in one unit of work: every product or none."""
    query = QueryParams(back)
    chosen = sorted(set((page_ids if scope == "page" else ids) or []))
    problems: list[dict[str, str]] = []
    if not chosen:
        problems.append({"field": "ids", "message": "Select at least one product."})
    elif len(chosen) > MAX_SELECTED:
        problems.append({"field": "ids", "message": f"Select at most {MAX_SELECTED} products."})
    if not set_status and not set_price.strip():
        problems.append({"field": "set_status", "message": "Choose a status or a price to set."})
    status_update = price_update = None
    try:
        status_update = ProductUpdate(status=set_status) if set_status else None
    except ValidationError as exc:
        problems += [{"field": "set_status", "message": m["message"]}
                     for m in problems_of(exc)[1]]
    try:
        price_update = VariantUpdate(price=set_price.strip()) if set_price.strip() else None
    except ValidationError as exc:
        problems += [{"field": "set_price", "message": m["message"]}
                     for m in problems_of(exc)[1]]
    if not problems:
        try:
            for product_id in chosen:
                product = service.get_product(session, product_id)
                if status_update is not None:
                    service.update_product(session, product, status_update)
                if price_update is not None:
                    for variant in product.variants:
                        service.update_variant(session, variant, price_update)
        except MercatoError as exc:
            problems += problems_of(exc)[1]
        else:
            done, kept = len(chosen), urlencode(_kept_pairs(query, drop=()))
            return redirect("/admin/products" + (f"?{kept}" if kept else ""),
                            flash=f"{done} product{'s' if done != 1 else ''} updated.")
    by_field = {p["field"]: p["message"] for p in problems if p["field"]}
    return _list_page(request, session, query, status=422, errors=by_field,
                      error_list=problems, values={"set_status": set_status,
                                                   "set_price": set_price},
                      selected=frozenset(ids or []))


@router.get("/admin/products/export.csv", response_class=StreamingResponse)
def products_export(request: Request, session: DbSession,
                    staff: StaffSession = Depends(READ)) -> Response:
    """The API's export (``GET /api/v1/exports/products.csv``) for the list's filters."""
    query = request.query_params
    fmt = query.get("format") or "mercato"
    if fmt not in ("mercato", "binderpos"):
        raise ValidationFailed("Unknown export format.",
                               errors=[{"field": "format", "message": "mercato or binderpos"}])
    filters = _checked_filters(request, query)
    conditions = service.filter_conditions(session, filters)
    db = request.app.state.db
    organization_id = staff.principal.organization_id

    def rows() -> Iterator[bytes]:
        with db.session(write=False, tenant=organization_id) as export_session:
            for chunk in export_rows(export_session, conditions, fmt):
                yield chunk.encode()

    filename = "products.csv" if fmt == "mercato" else f"products-{fmt}.csv"
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


FACET_FIELDS = ("product_type", "status", *(f"attr.{name}" for name in MAIN_FACETS),
                "attr.set_code")
FACET_LABELS = {"product_type": "Product type", "status": "Status", "attr.set_code": "Set code"}


@router.get("/admin/products/facets", response_class=HTMLResponse)
def products_facets(request: Request, session: DbSession,
                    staff: StaffSession = Depends(READ)) -> Response:
    """How many of the listed products have each type, status, game, rarity, condition and
    set: ``GET /api/v1/products/facets``' counts (and its cache), each a link that narrows the
    list. Asked for after the list has shown (htmx), so a list page costs what the JSON list
    costs; without JavaScript, a page of its own."""
    settings: Settings = request.app.state.settings
    query = request.query_params
    filters = _checked_filters(request, query)
    counts = service.FACETS.counts(session, filters, list(FACET_FIELDS),
                                   settings.facet_cache_seconds)
    types = {t.slug: t.name for t in service.type_choices(session)}
    kept = _filter_pairs(query)
    groups = []
    for name in FACET_FIELDS:
        values = []
        for found in counts.get(name, []):
            value = str(found["value"])
            label = (types.get(value, value) if name == "product_type"
                     else value.capitalize() if name == "status" else value)
            values.append({
                "label": label, "count": found["count"],
                "current": (name, value) in kept,
                "href": "/admin/products?" + urlencode(
                    [*((k, v) for k, v in kept if k != name), (name, value)])})
        if values:
            groups.append({"label": FACET_LABELS.get(name) or name.removeprefix("attr.")
                           .replace("_", " ").capitalize(), "entries": values})
    return render(request, "admin/products/facets.html", {
        "groups": groups, "back": "/admin/products" + ("?" + urlencode(kept) if kept else "")},
        block="facets")


# -- the editor -------------------------------------------------------------------------------

def _type_of(types: list[Any], ref: str) -> Any | None:
    return next((t for t in types if ref in (t.id, t.slug)), None)


def _new_page(request: Request, session: DbSession, values: Mapping[str, str], *,
              status: int = 200, errors: Mapping[str, str] | None = None,
              error_list: list[dict[str, str]] | None = None) -> HTMLResponse:
    types = _types(session)
    chosen = _type_of(types, values.get("product_type", "")) if values.get(
        "product_type") else (types[0] if len(types) == 1 else None)
    return render(request, "admin/products/new.html", {
        "types": types, "product_type": chosen, "statuses": STATUSES,
        "categories": _categories(session),
        "product_fields": attribute_fields(chosen.attributes_schema, "attributes.")
        if chosen else [],
        "variant_fields": attribute_fields(chosen.variant_attributes_schema,
                                           "variant.attributes.") if chosen else [],
        "values": {**values, "product_type": chosen.id if chosen else ""},
        "errors": errors or {}, "error_list": error_list or []},
        status=status, block="type_fields")


@router.get("/admin/products/new", response_class=HTMLResponse)
def product_new(request: Request, session: DbSession, product_type: str = "",
                staff: StaffSession = Depends(WRITE)) -> Response:
    """The new-product form; ``?product_type=`` picks the type whose attribute fields show
    (htmx asks for just those fields when the type changes)."""
    return _new_page(request, session, {"product_type": product_type, "status": "draft"})


def _first_variant(field: str) -> str:
    """The API's name of a first-variant field as the form names it: ``variants.0.sku`` is
    the form's ``sku``, ``variants.0.attributes.condition`` its ``variant.attributes.condition``."""
    rest = field.removeprefix("variants.0.")
    if rest == field:
        return field
    return "variant." + rest if rest.startswith("attributes") else rest


@router.post("/admin/products", response_class=HTMLResponse)
def product_create(request: Request, session: DbSession, form: Form_,
                   staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/products`` from the form: the product with its first variant."""
    values = form_dict(form)
    if "show_fields" in form:  # no JavaScript: the type changed, show its fields
        return _new_page(request, session, values)
    types = _types(session)
    product_type = _type_of(types, form_text(form, "product_type"))
    if product_type is None:
        return _new_page(request, session, values, status=422,
                         errors={"product_type": "Choose a product type."},
                         error_list=[{"field": "product_type",
                                      "message": "Choose a product type."}])
    variant: dict[str, Any] = {
        "sku": form_text(form, "sku"), "price": form_text(form, "price"),
        "attributes": attributes_from_form(product_type.variant_attributes_schema,
                                           "variant.attributes.", form)}
    if form_text(form, "barcode"):
        variant["barcode"] = form_text(form, "barcode")
    payload: dict[str, Any] = {
        "title": form_text(form, "title"), "product_type": product_type.id,
        "status": form_text(form, "status") or "draft",
        "description": form_text(form, "description"),
        "vendor": form_text(form, "vendor") or None,
        "category": form_text(form, "category") or None,
        "tags": tags_of(form_text(form, "tags")),
        "attributes": attributes_from_form(product_type.attributes_schema, "attributes.", form),
        "variants": [variant]}
    try:
        product = service.create_product(session, ProductCreate.model_validate(payload))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        errors, listed = problems_of(exc, rename=_first_variant)
        return _new_page(request, session, values, status=422, errors=errors,
                         error_list=listed)
    return redirect(f"/admin/products/{product.id}", flash=f"{product.title} saved.")


def product_page(request: Request, session: DbSession, product: Any, *, status: int = 200,
                  values: Mapping[str, str] | None = None,
                  errors: Mapping[str, str] | None = None,
                  error_list: list[dict[str, str]] | None = None) -> HTMLResponse:
    product_type = service.get_product_type(session, product.product_type_id)
    shown = {
        "title": product.title, "status": product.status, "vendor": product.vendor or "",
        "description": product.description, "tags": ", ".join(product.tags),
        "category": product.category_id or "", "version": str(product.version),
        "media": "\n".join(m["url"] for m in product.media),
        **{f"collection.{slug}": "true" for slug in product.collections},
        **attribute_values(product.attributes, "attributes."), **(values or {})}
    variant_names = list(properties(product_type.variant_attributes_schema))
    settings: Settings = request.app.state.settings
    return render(request, "admin/products/show.html", {
        "product": product, "product_type": product_type, "statuses": STATUSES,
        "categories": _categories(session), "collections": _collections(session),
        "product_fields": attribute_fields(product_type.attributes_schema, "attributes."),
        "variant_fields": attribute_fields(product_type.variant_attributes_schema,
                                           "variant.attributes."),
        "variant_names": variant_names,
        "uploads": media_directory(settings) is not None and bool(settings.public_url),
        "adding_variant": any(k.startswith("variant.") for k in errors or {}),
        "can_write": request.state.staff_session.can("catalog:write"),
        "values": shown, "errors": errors or {}, "error_list": error_list or []},
        status=status)


@router.get("/admin/products/{product_id}", response_class=HTMLResponse)
def product_show(product_id: str, request: Request, session: DbSession,
                 staff: StaffSession = Depends(READ)) -> Response:
    return product_page(request, session, service.get_product(session, product_id))


def _media(text: str, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The media the URL list gives, in its order; an image kept keeps its alt text."""
    alts = {m["url"]: m.get("alt", "") for m in before}
    return [{"url": url, "alt": alts.get(url, ""), "position": i}
            for i, url in enumerate(u.strip() for u in text.splitlines() if u.strip())]


@router.post("/admin/products/{product_id}", response_class=HTMLResponse)
def product_update(product_id: str, request: Request, session: DbSession, form: Form_,
                   staff: StaffSession = Depends(WRITE)) -> Response:
    """``PATCH /api/v1/products/{id}`` from the form, refused when the product changed since
    the form was opened (the API's If-Match)."""
    product = service.get_product(session, product_id)
    values = {**form_dict(form), "version": str(product.version)}
    if form_text(form, "version") != str(product.version):
        return product_page(request, session, product, status=409, values=values,
                             error_list=[{"field": "", "message":
                                          "Someone changed this product since you opened it: "
                                          "check the values below and save again."}])
    product_type = service.get_product_type(session, product.product_type_id)
    unticked = [f.name for f in attribute_fields(product_type.attributes_schema, "attributes.")
                if f.kind == "checkbox"] + [f"collection.{slug}" for slug in product.collections]
    values.update({name: "" for name in unticked if name not in form})
    payload: dict[str, Any] = {
        "title": form_text(form, "title"), "status": form_text(form, "status"),
        "description": form_text(form, "description"),
        "vendor": form_text(form, "vendor") or None,
        "category": form_text(form, "category") or None,
        "tags": tags_of(form_text(form, "tags")),
        "media": _media(form_text(form, "media"), product.media),
        "attributes": attributes_from_form(product_type.attributes_schema, "attributes.", form,
                                           kept=product.attributes)}
    if "collections_shown" in form:
        payload["collections"] = [key.removeprefix("collection.") for key in form
                                  if key.startswith("collection.")]
    try:
        service.update_product(session, product, ProductUpdate.model_validate(payload))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        errors, listed = problems_of(exc)
        if any(k.startswith("media.") for k in errors):
            errors["media"] = next(v for k, v in errors.items() if k.startswith("media."))
        return product_page(request, session, product, status=422, values=values,
                             errors=errors, error_list=listed)
    return redirect(f"/admin/products/{product.id}", flash=f"{product.title} saved.")


# -- variants ---------------------------------------------------------------------------------

def _variant_payload(form: FormData, prefix: str, schema: Mapping[str, Any],
                     kept: Mapping[str, Any] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "sku": form_text(form, prefix + "sku"), "price": form_text(form, prefix + "price"),
        "title": form_text(form, prefix + "title"),
        "attributes": attributes_from_form(schema, prefix + "attributes.", form, kept=kept)}
    for name in ("barcode", "compare_at_price", "cost"):
        text = form_text(form, prefix + name)
        if text or kept is not None:  # an edit clears what is left empty
            payload[name] = text or None
    return payload


@router.post("/admin/products/{product_id}/variants", response_class=HTMLResponse)
def variant_add(product_id: str, request: Request, session: DbSession, form: Form_,
                staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/products/{id}/variants`` from the product page's form."""
    product = service.get_product(session, product_id)
    product_type = service.get_product_type(session, product.product_type_id)
    payload = _variant_payload(form, "variant.", product_type.variant_attributes_schema)
    try:
        variant = service.add_variant(session, product, VariantIn.model_validate(payload))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        errors, listed = problems_of(exc, "variant.")
        return product_page(request, session, product, status=422, values=form_dict(form),
                             errors=errors, error_list=listed)
    return redirect(f"/admin/products/{product.id}#variants",
                    flash=f"Variant {variant.sku} added.")


def _variant_of(session: DbSession, product_id: str, variant_id: str) -> Any:
    variant = service.get_variant(session, variant_id)
    if variant.product_id != product_id:
        raise NotFound("Variant not found.")
    return variant


def _variant_page(request: Request, session: DbSession, variant: Any, *, status: int = 200,
                  values: Mapping[str, str] | None = None,
                  errors: Mapping[str, str] | None = None,
                  error_list: list[dict[str, str]] | None = None) -> HTMLResponse:
    product = variant.product
    product_type = service.get_product_type(session, product.product_type_id)
    shown = values if values is not None else {
        "sku": variant.sku, "barcode": variant.barcode or "", "title": variant.title,
        "price": f"{variant.price:.2f}",
        "compare_at_price": "" if variant.compare_at_price is None
        else f"{variant.compare_at_price:.2f}",
        "cost": "" if variant.cost is None else f"{variant.cost:.2f}",
        "version": str(variant.version), **attribute_values(variant.attributes, "attributes.")}
    return render(request, "admin/products/variant.html", {
        "product": product, "variant": variant,
        "fields": attribute_fields(product_type.variant_attributes_schema, "attributes."),
        "values": shown, "errors": errors or {}, "error_list": error_list or []},
        status=status)


@router.get("/admin/products/{product_id}/variants/{variant_id}", response_class=HTMLResponse)
def variant_edit(product_id: str, variant_id: str, request: Request, session: DbSession,
                 staff: StaffSession = Depends(WRITE)) -> Response:
    return _variant_page(request, session, _variant_of(session, product_id, variant_id))


@router.post("/admin/products/{product_id}/variants/{variant_id}", response_class=HTMLResponse)
def variant_update(product_id: str, variant_id: str, request: Request, session: DbSession,
                   form: Form_, staff: StaffSession = Depends(WRITE)) -> Response:
    """``PATCH /api/v1/variants/{id}`` from the form (refused when it changed meanwhile)."""
    variant = _variant_of(session, product_id, variant_id)
    values = {**form_dict(form), "version": str(variant.version)}
    if form_text(form, "version") != str(variant.version):
        return _variant_page(request, session, variant, status=409, values=values,
                             error_list=[{"field": "", "message":
                                          "Someone changed this variant since you opened it: "
                                          "check the values below and save again."}])
    product_type = service.get_product_type(session, variant.product.product_type_id)
    payload = _variant_payload(form, "", product_type.variant_attributes_schema,
                               kept=variant.attributes)
    try:
        service.update_variant(session, variant, VariantUpdate.model_validate(payload))
        session.flush()
    except (ValidationError, MercatoError) as exc:
        errors, listed = problems_of(exc)
        return _variant_page(request, session, variant, status=422, values=values,
                             errors=errors, error_list=listed)
    return redirect(f"/admin/products/{product_id}#variants",
                    flash=f"Variant {variant.sku} saved.")


@router.post("/admin/products/{product_id}/variants/{variant_id}/delete",
             response_class=HTMLResponse)
def variant_delete(product_id: str, variant_id: str, request: Request, session: DbSession,
                   staff: StaffSession = Depends(WRITE)) -> Response:
    """``DELETE /api/v1/variants/{id}``: a product keeps at least one live variant."""
    return _variant_action(request, session, product_id, variant_id,
                           service.delete_variant, "deleted")


def _variant_action(request: Request, session: DbSession, product_id: str, variant_id: str,
                    action: Callable[[Any, Any], object], done: str) -> Response:
    """A variant's delete, archive or restore from the product page: the API's call, then back
    to the variants with a flash, or the product page with the problem (409: the last live
    variant)."""
    variant = _variant_of(session, product_id, variant_id)
    sku = variant.sku
    try:
        action(session, variant)
        session.flush()
    except MercatoError as exc:
        return product_page(request, session, variant.product, status=exc.status,
                             error_list=problems_of(exc)[1])
    return redirect(f"/admin/products/{product_id}#variants", flash=f"Variant {sku} {done}.")


@router.post("/admin/products/{product_id}/variants/{variant_id}/archive",
             response_class=HTMLResponse)
def variant_archive(product_id: str, variant_id: str, request: Request, session: DbSession,
                    staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/variants/{id}/archive``: no longer sold, kept for its orders."""
    return _variant_action(request, session, product_id, variant_id,
                           service.archive_variant, "archived")


@router.post("/admin/products/{product_id}/variants/{variant_id}/unarchive",
             response_class=HTMLResponse)
def variant_unarchive(product_id: str, variant_id: str, request: Request, session: DbSession,
                      staff: StaffSession = Depends(WRITE)) -> Response:
    """``POST /api/v1/variants/{id}/unarchive``: sold again."""
    return _variant_action(request, session, product_id, variant_id,
                           service.unarchive_variant, "restored")
