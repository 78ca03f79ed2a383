"""HTTP surface of the catalog."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from mercato.catalog import service
from mercato.catalog.schemas import (
    CategoryCreate,
    CategoryOut,
    InstallTypeSet,
    ProductCreate,
    ProductOut,
    ProductTypeCreate,
    ProductTypeOut,
    ProductTypeUpdate,
    ProductUpdate,
    Status,
    VariantIn,
    VariantOut,
    VariantUpdate,
)
from mercato.core.auth import Principal, require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams, page_params
from mercato.core.uow import MercatoRoute, get_session

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["catalog"])
READ, WRITE = require("catalog:read"), require("catalog:write")
Sort = Literal["created", "-created", "updated", "-updated", "title", "-title"]


# -- product types ----------------------------------------------------------------------------

@router.post("/product-types", response_model=ProductTypeOut,
             status_code=status.HTTP_201_CREATED,
             summary="Define a product type: its attributes as JSON Schema")
def create_product_type(body: ProductTypeCreate, response: Response,
                        _: Principal = Depends(WRITE),
                        session: Session = Depends(get_session)) -> ProductTypeOut:
    product_type = service.create_product_type(session, body)
    session.flush()
    set_etag(response, product_type)
    return ProductTypeOut.model_validate(product_type)


@router.post("/product-types/install", response_model=list[ProductTypeOut],
             summary="Install a built-in set of product types (`tcg`: cards, graded, sealed)")
def install_product_types(body: InstallTypeSet, _: Principal = Depends(WRITE),
                          session: Session = Depends(get_session)) -> list[ProductTypeOut]:
    installed = service.install_type_set(session, body.set)
    session.flush()
    return [ProductTypeOut.model_validate(t) for t in installed]


@router.get("/product-types", response_model=Page[ProductTypeOut])
def list_product_types(params: PageParams = Depends(page_params), _: Principal = Depends(READ),
                       session: Session = Depends(get_session)) -> Page[ProductTypeOut]:
    return service.list_product_types(session, params).to_page(ProductTypeOut)


@router.get("/product-types/{product_type_id}", response_model=ProductTypeOut)
def get_product_type(product_type_id: str, response: Response, _: Principal = Depends(READ),
                     session: Session = Depends(get_session)) -> ProductTypeOut:
    product_type = service.get_product_type(session, product_type_id)
    set_etag(response, product_type)
    return ProductTypeOut.model_validate(product_type)


@router.patch("/product-types/{product_type_id}", response_model=ProductTypeOut,
              summary="Rename or change schemas (refused with what would break)")
def update_product_type(product_type_id: str, body: ProductTypeUpdate, request: Request,
                        response: Response, _: Principal = Depends(WRITE),
                        session: Session = Depends(get_session)) -> ProductTypeOut:
    product_type = service.get_product_type(session, product_type_id)
    check_if_match(request, product_type)
    service.update_product_type(session, product_type, body)
    session.flush()
    set_etag(response, product_type)
    return ProductTypeOut.model_validate(product_type)


# -- categories -------------------------------------------------------------------------------

@router.post("/categories", response_model=CategoryOut, status_code=status.HTTP_201_CREATED)
def create_category(body: CategoryCreate, _: Principal = Depends(WRITE),
                    session: Session = Depends(get_session)) -> CategoryOut:
    category = service.create_category(session, body)
    session.flush()
    return CategoryOut.model_validate(category)


@router.get("/categories", response_model=Page[CategoryOut])
def list_categories(params: PageParams = Depends(page_params), _: Principal = Depends(READ),
                    session: Session = Depends(get_session)) -> Page[CategoryOut]:
    return service.list_categories(session, params).to_page(CategoryOut)


@router.get("/categories/{category_id}", response_model=CategoryOut)
def get_category(category_id: str, _: Principal = Depends(READ),
                 session: Session = Depends(get_session)) -> CategoryOut:
    return CategoryOut.model_validate(service.get_category(session, category_id))


# -- products ---------------------------------------------------------------------------------

@router.post("/products", response_model=ProductOut, status_code=status.HTTP_201_CREATED,
             summary="Create a product with its variants")
def create_product(body: ProductCreate, response: Response, _: Principal = Depends(WRITE),
                   session: Session = Depends(get_session)) -> ProductOut:
    product = service.create_product(session, body)
    session.flush()
    set_etag(response, product)
    return ProductOut.model_validate(product)


@router.get("/products", response_model=Page[ProductOut],
            summary="List products; filter by type, category, status, tag, vendor, attr.<name>")
def list_products(
    request: Request,
    params: PageParams = Depends(page_params),
    product_type: str | None = Query(None, description="Type slug or id."),
    category: str | None = Query(None, description="Category slug or id (with subcategories)."),
    status_: Status | None = Query(None, alias="status"),
    tag: str | None = Query(None, max_length=100),
    vendor: str | None = Query(None, max_length=200),
    q: str | None = Query(None, max_length=200, description="Title, SKU or barcode."),
    sort: Sort = Query("-created"),
    _: Principal = Depends(READ),
    session: Session = Depends(get_session),
) -> Page[ProductOut]:
    attributes = {key[5:]: value for key, value in request.query_params.items()
                  if key.startswith("attr.") and len(key) > 5}
    filters = service.ProductFilters(product_type=product_type, category=category,
                                     status=status_, tag=tag, vendor=vendor, q=q,
                                     attributes=attributes, sort=sort)
    return service.list_products(session, filters, params).to_page(ProductOut)


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: str, response: Response, _: Principal = Depends(READ),
                session: Session = Depends(get_session)) -> ProductOut:
    product = service.get_product(session, product_id)
    set_etag(response, product)
    return ProductOut.model_validate(product)


@router.patch("/products/{product_id}", response_model=ProductOut,
              summary="Change a product (send If-Match)")
def update_product(product_id: str, body: ProductUpdate, request: Request, response: Response,
                   _: Principal = Depends(WRITE),
                   session: Session = Depends(get_session)) -> ProductOut:
    product = service.get_product(session, product_id)
    check_if_match(request, product)
    service.update_product(session, product, body)
    session.flush()
    set_etag(response, product)
    return ProductOut.model_validate(product)


@router.delete("/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_product(product_id: str, request: Request, _: Principal = Depends(WRITE),
                   session: Session = Depends(get_session)) -> Response:
    product = service.get_product(session, product_id)
    check_if_match(request, product)
    service.delete_product(session, product)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/products/{product_id}/variants", response_model=VariantOut,
             status_code=status.HTTP_201_CREATED)
def add_variant(product_id: str, body: VariantIn, response: Response,
                _: Principal = Depends(WRITE),
                session: Session = Depends(get_session)) -> VariantOut:
    variant = service.add_variant(session, service.get_product(session, product_id), body)
    session.flush()
    set_etag(response, variant)
    return VariantOut.model_validate(variant)


# -- variants ---------------------------------------------------------------------------------

@router.get("/variants", response_model=Page[VariantOut], summary="Find variants by SKU")
def list_variants(params: PageParams = Depends(page_params),
                  sku: str | None = Query(None, max_length=100),
                  barcode: str | None = Query(None, max_length=64),
                  _: Principal = Depends(READ),
                  session: Session = Depends(get_session)) -> Page[VariantOut]:
    return service.find_variants(session, params, sku=sku, barcode=barcode).to_page(VariantOut)


@router.get("/variants/{variant_id}", response_model=VariantOut)
def get_variant(variant_id: str, response: Response, _: Principal = Depends(READ),
                session: Session = Depends(get_session)) -> VariantOut:
    variant = service.get_variant(session, variant_id)
    set_etag(response, variant)
    return VariantOut.model_validate(variant)


@router.patch("/variants/{variant_id}", response_model=VariantOut)
def update_variant(variant_id: str, body: VariantUpdate, request: Request, response: Response,
                   _: Principal = Depends(WRITE),
                   session: Session = Depends(get_session)) -> VariantOut:
    variant = service.get_variant(session, variant_id)
    check_if_match(request, variant)
    service.update_variant(session, variant, body)
    session.flush()
    set_etag(response, variant)
    return VariantOut.model_validate(variant)


@router.delete("/variants/{variant_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_variant(variant_id: str, request: Request, _: Principal = Depends(WRITE),
                   session: Session = Depends(get_session)) -> Response:
    variant = service.get_variant(session, variant_id)
    check_if_match(request, variant)
    service.delete_variant(session, variant)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
