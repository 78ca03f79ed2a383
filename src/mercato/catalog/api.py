"""HTTP surface of the catalog."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mercato.catalog import imports, service
from mercato.catalog.csvio import CsvFormatError, CsvLimits
from mercato.catalog.models import ImportRowError
from mercato.catalog.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    CollectionCreate,
    CollectionOut,
    CollectionUpdate,
    ExportQuery,
    Facets,
    ImportJobOut,
    ImportRowErrorOut,
    InstallTypeSet,
    ProductCreate,
    ProductOut,
    ProductPageQuery,
    ProductQuery,
    ProductTypeCreate,
    ProductTypeOut,
    ProductTypeUpdate,
    ProductUpdate,
    VariantIn,
    VariantOut,
    VariantUpdate,
)
from mercato.core.auth import require
from mercato.core.errors import MercatoError, ValidationFailed
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams, paginate
from mercato.core.principal import Principal
from mercato.core.query import (
    filter_parameters,
    page_params,
    parse_query,
    query_parameters,
    rendered_page,
)
from mercato.core.uow import DbSession, MercatoRoute, uow_of

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["catalog"])
READ, WRITE = require("catalog:read"), require("catalog:write")
MAX_FACETS = 20


class PayloadTooLarge(MercatoError):
    status, code = 413, "payload_too_large"


# -- product types ----------------------------------------------------------------------------

@router.post("/product-types", response_model=ProductTypeOut,
             status_code=status.HTTP_201_CREATED,
             summary="Define a product type: its attributes as JSON Schema")
def create_product_type(body: ProductTypeCreate, response: Response,
                        *, _: Principal = Depends(WRITE),
                        session: DbSession) -> ProductTypeOut:
    product_type = service.create_product_type(session, body)
    session.flush()
    set_etag(response, product_type)
    return ProductTypeOut.model_validate(product_type)


@router.post("/product-types/install", response_model=list[ProductTypeOut],
             summary="Install a built-in set of product types (`tcg`: cards, graded, sealed)")
def install_product_types(body: InstallTypeSet, *, _: Principal = Depends(WRITE),
                          session: DbSession) -> list[ProductTypeOut]:
    installed = service.install_type_set(session, body.set)
    session.flush()
    return [ProductTypeOut.model_validate(t) for t in installed]


@router.get("/product-types", response_model=Page[ProductTypeOut])
def list_product_types(*, params: PageParams = Depends(page_params), _: Principal = Depends(READ),
                       session: DbSession) -> Page[ProductTypeOut]:
    return service.list_product_types(session, params).to_page(ProductTypeOut)


@router.get("/product-types/{product_type_id}", response_model=ProductTypeOut)
def get_product_type(product_type_id: str, response: Response, *, _: Principal = Depends(READ),
                     session: DbSession) -> ProductTypeOut:
    product_type = service.get_product_type(session, product_type_id)
    set_etag(response, product_type)
    return ProductTypeOut.model_validate(product_type)


@router.patch("/product-types/{product_type_id}", response_model=ProductTypeOut,
              summary="Rename or change schemas (refused with what would break)")
def update_product_type(product_type_id: str, body: ProductTypeUpdate, request: Request,
                        response: Response, *, _: Principal = Depends(WRITE),
                        session: DbSession) -> ProductTypeOut:
    product_type = service.get_product_type(session, product_type_id)
    check_if_match(request, product_type)
    service.update_product_type(session, product_type, body)
    session.flush()
    set_etag(response, product_type)
    return ProductTypeOut.model_validate(product_type)


# -- categories -------------------------------------------------------------------------------

@router.post("/categories", response_model=CategoryOut, status_code=status.HTTP_201_CREATED)
def create_category(body: CategoryCreate, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> CategoryOut:
    category = service.create_category(session, body)
    session.flush()
    return CategoryOut.model_validate(category)


@router.get("/categories", response_model=Page[CategoryOut])
def list_categories(*, params: PageParams = Depends(page_params), _: Principal = Depends(READ),
                    session: DbSession) -> Page[CategoryOut]:
    return service.list_categories(session, params).to_page(CategoryOut)


@router.get("/categories/{category_id}", response_model=CategoryOut)
def get_category(category_id: str, *, _: Principal = Depends(READ),
                 session: DbSession) -> CategoryOut:
    return CategoryOut.model_validate(service.get_category(session, category_id))


@router.patch("/categories/{category_id}", response_model=CategoryOut)
def update_category(category_id: str, body: CategoryUpdate, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> CategoryOut:
    category = service.get_category(session, category_id)
    service.update_category(session, category, body)
    session.flush()
    return CategoryOut.model_validate(category)


@router.delete("/categories/{category_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete an empty category (409 while it holds products or subcategories)")
def delete_category(category_id: str, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> Response:
    service.delete_category(session, service.get_category(session, category_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- collections ------------------------------------------------------------------------------

@router.post("/collections", response_model=CollectionOut, status_code=status.HTTP_201_CREATED)
def create_collection(body: CollectionCreate, *, _: Principal = Depends(WRITE),
                      session: DbSession) -> CollectionOut:
    collection = service.create_collection(session, body)
    session.flush()
    return CollectionOut.model_validate(collection)


@router.get("/collections", response_model=Page[CollectionOut])
def list_collections(*, params: PageParams = Depends(page_params), _: Principal = Depends(READ),
                     session: DbSession) -> Page[CollectionOut]:
    return service.list_collections(session, params).to_page(CollectionOut)


@router.get("/collections/{collection_id}", response_model=CollectionOut)
def get_collection(collection_id: str, *, _: Principal = Depends(READ),
                   session: DbSession) -> CollectionOut:
    return CollectionOut.model_validate(service.get_collection(session, collection_id))


@router.patch("/collections/{collection_id}", response_model=CollectionOut)
def update_collection(collection_id: str, body: CollectionUpdate, *, _: Principal = Depends(WRITE),
                      session: DbSession) -> CollectionOut:
    collection = service.get_collection(session, collection_id)
    service.update_collection(session, collection, body)
    session.flush()
    return CollectionOut.model_validate(collection)


@router.delete("/collections/{collection_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a collection (its products stay)")
def delete_collection(collection_id: str, *, _: Principal = Depends(WRITE),
                      session: DbSession) -> Response:
    service.delete_collection(session, service.get_collection(session, collection_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- products ---------------------------------------------------------------------------------

def _filters(query: ProductQuery | ExportQuery, request: Request) -> service.ProductFilters:
    return service.ProductFilters(**query.filter_values(),
                                  attributes=filter_parameters(request, "attr."))


async def product_filters(request: Request) -> service.ProductFilters:
    """The listing filters (``ProductQuery``); ``attr.<name>=<value>`` (repeat for any of
    several values) filters on a product or variant attribute."""
    return _filters(parse_query(ProductQuery, request), request)


async def export_filters(request: Request) -> service.ProductFilters:
    """``product_filters`` for an export (``ExportQuery``): its ``channel`` is the sales channel
    a TCGplayer file is for, not a filter."""
    return _filters(parse_query(ExportQuery, request), request)


async def product_page(request: Request) -> tuple[service.ProductFilters, PageParams]:
    """``product_filters`` and the page, for the listing (``ProductPageQuery``)."""
    query = parse_query(ProductPageQuery, request)
    return _filters(query, request), query.page


@router.post("/products", response_model=ProductOut, status_code=status.HTTP_201_CREATED,
             summary="Create a product with its variants")
def create_product(body: ProductCreate, response: Response, *, _: Principal = Depends(WRITE),
                   session: DbSession) -> ProductOut:
    product = service.create_product(session, body)
    session.flush()
    set_etag(response, product)
    return ProductOut.model_validate(product)


@router.get("/products", response_model=Page[ProductOut],
            summary="List and search products; filter by type, category, collection, status, "
                    "tag, vendor, price, stock and attr.<name>",
            openapi_extra=query_parameters(ProductPageQuery))
def list_products(*, listing: tuple[service.ProductFilters, PageParams] = Depends(product_page),
                  _: Principal = Depends(READ),
                  session: DbSession) -> Response:
    return rendered_page(service.list_products(session, *listing))


@router.get("/products/facets", response_model=Facets,
            summary="Facet counts: per field, its values and how many products have each",
            description="Counts are reused for repeat requests: writes through the same "
                        "server process show at once, writes through other processes within "
                        "`MERCATO_FACET_CACHE_SECONDS`.",
            openapi_extra=query_parameters(ProductQuery))
def product_facets(
    request: Request,
    *, filters: service.ProductFilters = Depends(product_filters),
    facet: list[str] | None = Query(
        None, description="Fields to count (`attr.<name>`, `tag`, `product_type`, `status`, "
        "`vendor`, `category`); repeat or separate by commas. Default: type, status and every "
        "attribute declared with an enum."),
    _: Principal = Depends(READ),
    session: DbSession,
) -> Facets:
    fields = [f.strip() for item in facet or [] for f in item.split(",") if f.strip()]
    if not fields:
        fields = service.default_facets(session, filters.product_type)
    bad = [f for f in fields if f not in service.COLUMN_FACETS and f != "tag"
           and not (f.startswith("attr.") and len(f) > 5)]
    if bad or len(fields) > MAX_FACETS:
        raise ValidationFailed("Unknown facet field.", errors=[
            {"field": "facet", "message": f"not a facet: {f}"} for f in bad] or [
            {"field": "facet", "message": f"at most {MAX_FACETS} fields"}])
    counts = service.FACETS.counts(session, filters, fields,
                                   request.app.state.settings.facet_cache_seconds)
    return Facets.model_validate({"facets": counts})


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: str, response: Response, *, _: Principal = Depends(READ),
                session: DbSession) -> ProductOut:
    product = service.get_product(session, product_id)
    set_etag(response, product)
    return ProductOut.model_validate(product)


@router.patch("/products/{product_id}", response_model=ProductOut,
              summary="Change a product (send If-Match)")
def update_product(product_id: str, body: ProductUpdate, request: Request, response: Response,
                   *, _: Principal = Depends(WRITE),
                   session: DbSession) -> ProductOut:
    product = service.get_product(session, product_id)
    check_if_match(request, product)
    service.update_product(session, product, body)
    session.flush()
    set_etag(response, product)
    return ProductOut.model_validate(product)


@router.delete("/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_product(product_id: str, request: Request, *, _: Principal = Depends(WRITE),
                   session: DbSession) -> Response:
    product = service.get_product(session, product_id)
    check_if_match(request, product)
    service.delete_product(session, product)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/products/{product_id}/variants", response_model=VariantOut,
             status_code=status.HTTP_201_CREATED)
def add_variant(product_id: str, body: VariantIn, response: Response,
                *, _: Principal = Depends(WRITE),
                session: DbSession) -> VariantOut:
    variant = service.add_variant(session, service.get_product(session, product_id), body)
    session.flush()
    set_etag(response, variant)
    return VariantOut.model_validate(variant)


# -- variants ---------------------------------------------------------------------------------

@router.get("/variants", response_model=Page[VariantOut], summary="Find variants by SKU")
def list_variants(*, params: PageParams = Depends(page_params),
                  sku: str | None = Query(None, max_length=100),
                  barcode: str | None = Query(None, max_length=64),
                  _: Principal = Depends(READ),
                  session: DbSession) -> Page[VariantOut]:
    return service.find_variants(session, params, sku=sku, barcode=barcode).to_page(VariantOut)


@router.get("/variants/{variant_id}", response_model=VariantOut)
def get_variant(variant_id: str, response: Response, *, _: Principal = Depends(READ),
                session: DbSession) -> VariantOut:
    variant = service.get_variant(session, variant_id)
    set_etag(response, variant)
    return VariantOut.model_validate(variant)


@router.patch("/variants/{variant_id}", response_model=VariantOut)
def update_variant(variant_id: str, body: VariantUpdate, request: Request, response: Response,
                   *, _: Principal = Depends(WRITE),
                   session: DbSession) -> VariantOut:
    variant = service.get_variant(session, variant_id)
    check_if_match(request, variant)
    service.update_variant(session, variant, body)
    session.flush()
    set_etag(response, variant)
    return VariantOut.model_validate(variant)


@router.post("/variants/{variant_id}/archive", response_model=VariantOut,
             summary="Archive a variant: no longer sold anywhere, kept for its orders and "
                     "stock (idempotent; 409 for a product's last live variant)")
def archive_variant(variant_id: str, response: Response, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> VariantOut:
    variant = service.archive_variant(session, service.get_variant(session, variant_id))
    session.flush()
    set_etag(response, variant)
    return VariantOut.model_validate(variant)


@router.post("/variants/{variant_id}/unarchive", response_model=VariantOut,
             summary="Restore an archived variant: sold again (idempotent)")
def unarchive_variant(variant_id: str, response: Response, *, _: Principal = Depends(WRITE),
                      session: DbSession) -> VariantOut:
    variant = service.unarchive_variant(session, service.get_variant(session, variant_id))
    session.flush()
    set_etag(response, variant)
    return VariantOut.model_validate(variant)


@router.delete("/variants/{variant_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_variant(variant_id: str, request: Request, *, _: Principal = Depends(WRITE),
                   session: DbSession) -> Response:
    variant = service.get_variant(session, variant_id)
    check_if_match(request, variant)
    service.delete_variant(session, variant)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- CSV import and export --------------------------------------------------------------------

def _job_out(session: Session, job_id: str) -> ImportJobOut:
    out = ImportJobOut.model_validate(imports.get_job(session, job_id))
    out.errors = [ImportRowErrorOut.model_validate(e)
                  for e in imports.job_errors(session, job_id, limit=100)]
    return out


async def import_file(
    request: Request,
    file: UploadFile = File(description="UTF-8 CSV (a BOM is fine); see docs/catalog-csv.md."),
    format: Literal["auto", "mercato", "tcgplayer", "binderpos"] = Form(
        "auto", description="`auto`: BinderPOS when the header has a Binder ID column, "
        "TCGplayer when it has TCGplayer Id, else Mercato."),
    _: Principal = Depends(WRITE),
) -> tuple[imports.CheckedFile, str]:
    """The uploaded file and its name, read and checked (422 naming ``file``) before the request's
    transaction begins: the write transaction of a SQLite database holds its one write lock,
    and no other write should wait on a file being read. An API key's lookup may have begun
    one already: it is ended first (it has written nothing)."""
    settings = request.app.state.settings
    uow = uow_of(request)
    limits = CsvLimits(max_columns=settings.csv_max_columns,
                       max_row_chars=settings.csv_max_row_chars)

    def check() -> imports.CheckedFile:
        uow.release()
        content = file.file.read(settings.max_upload_bytes + 1)
        if len(content) > settings.max_upload_bytes:
            raise PayloadTooLarge(f"The file is larger than {settings.max_upload_bytes} bytes "
                                  "(MERCATO_MAX_UPLOAD_BYTES); split it.")
        try:
            return imports.check_file(content, None if format == "auto" else format, limits)
        except CsvFormatError as exc:
            raise ValidationFailed(str(exc), errors=[{"field": "file", "message": str(exc)}]
                                   ) from None

    return await run_in_threadpool(check), file.filename or ""


@router.post("/imports", response_model=ImportJobOut, status_code=status.HTTP_202_ACCEPTED,
             summary="Upload a CSV of products (Mercato, TCGplayer or BinderPOS layout); "
                     "applied in the background")
def create_import(
    response: Response,
    *, upload: tuple[imports.CheckedFile, str] = Depends(import_file),
    kind: Literal["products"] = Form("products"),
    dry_run: bool = Form(False, description="Check every row and count what would change; "
                         "write nothing."),
    location: str | None = Form(None, max_length=50, description=(
        "TCGplayer files: the location (id or code) whose stock Total Quantity and Add to "
        "Quantity set; default the organization's only active location (422 when the file "
        "has quantities and there is none, or several).")),
    principal: Principal = Depends(WRITE),
    session: DbSession,
) -> ImportJobOut:
    job = imports.create_job(session, checked=upload[0], filename=upload[1],
                             dry_run=dry_run, created_by=principal.id, location=location)
    response.headers["Location"] = f"/api/v1/imports/{job.id}"
    return _job_out(session, job.id)


@router.get("/imports/{import_id}", response_model=ImportJobOut,
            summary="An import's status, progress, counts and first row errors")
def get_import(import_id: str, *, _: Principal = Depends(READ),
               session: DbSession) -> ImportJobOut:
    return _job_out(session, import_id)


@router.get("/imports/{import_id}/errors", response_model=Page[ImportRowErrorOut],
            summary="Every row error of an import, by line")
def list_import_errors(import_id: str, *, params: PageParams = Depends(page_params),
                       _: Principal = Depends(READ),
                       session: DbSession) -> Page[ImportRowErrorOut]:
    imports.get_job(session, import_id)
    return paginate(session, imports.errors_query(import_id), [(ImportRowError.id, False)],
                    params).to_page(ImportRowErrorOut)


@router.get("/exports/products.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}},
            summary="The catalog, or the products the listing filters select, as CSV",
            openapi_extra=query_parameters(ExportQuery))
def export_products(request: Request,
                    *, filters: service.ProductFilters = Depends(export_filters),
                    format: Literal["mercato", "binderpos", "tcgplayer"] = Query(
                        "mercato", description="`binderpos`: BinderPOS's product layout, "
                        "for the card products (tcg-single, tcg-sealed) only; `tcgplayer`: "
                        "the inventory file a store uploads to TCGplayer, with the channel's "
                        "available-to-sell and price."),
                    channel: str | None = Query(None, max_length=26, description=(
                        "`format=tcgplayer`: the sales channel whose quantities and prices "
                        "are written; default the first channel of kind `tcgplayer`.")),
                    principal: Principal = Depends(READ),
                    session: DbSession) -> StreamingResponse:
    conditions = service.filter_conditions(session, filters)  # unknown category: 404 here
    db = request.app.state.db
    channel_id = imports.export_channel(session, format, channel)  # 422 before streaming

    def rows() -> Iterator[bytes]:
        with db.session(write=False, tenant=principal.organization_id) as export_session:
            for chunk in imports.export_rows(export_session, conditions, format,
                                             channel_id=channel_id):
                yield chunk.encode()

    filename = "products.csv" if format == "mercato" else f"products-{format}.csv"
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


from mercato.catalog import api_store  # noqa: E402 - after this router
from mercato.catalog.reviews import api as api_reviews  # noqa: E402

router.include_router(api_reviews.router)
store_router = APIRouter()
store_router.include_router(api_store.store_router)
store_router.include_router(api_reviews.store_router)
