"""The published catalog for shoppers: products the web channel sells, with price and whether
they can be bought now."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from mercato.catalog import service, store
from mercato.catalog.schemas import StorePageQuery
from mercato.catalog.schemas_store import StorePage, StoreProduct
from mercato.core.db import json_bytes
from mercato.core.pagination import PageParams
from mercato.core.query import filter_parameters, parse_query, query_parameters
from mercato.core.uow import DbSession, MercatoRoute
from mercato.tenancy import Store
from mercato.tenancy.deps import current_store

store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute, tags=["storefront"])

CACHE_SECONDS = 30
"""Short: availability moves with every sale, and a checkout re-checks stock anyway."""
CACHE_CONTROL = f"public, max-age={CACHE_SECONDS}"


async def store_page(request: Request) -> tuple[service.ProductFilters, PageParams]:
    """The storefront's filters (``StoreQuery``) and page; ``attr.<name>=<value>`` (repeat
    for any of several values) filters on a product or variant attribute."""
    query = parse_query(StorePageQuery, request)
    return store.published_filters(**query.filter_values(),
                                   attributes=filter_parameters(request, "attr.")), query.page


def cached_json(request: Request, content: dict[str, Any] | bytes) -> Response:
    """JSON (or JSON bytes already made) with a weak ETag of its bytes and a short public
    max-age; a matching ``If-None-Match`` is a 304 without a body. The body holds the
    availability, so a sale or a restock that changes what a shopper sees changes the ETag
    too."""
    body = content if isinstance(content, bytes) else json_bytes(content)
    etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    sent = request.headers.get("if-none-match")
    if sent is not None:
        tags = {tag.strip().removeprefix("W/") for tag in sent.split(",")}
        if "*" in tags or etag.removeprefix("W/") in tags:
            return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@store_router.get(
    "/products", response_model=StorePage,
    summary="Published products with price and whether they can be bought now",
    description="Products that are `active` and published on the `web` channel. Filters as the "
    "admin listing (`q`, `product_type`, `category`, `collection`, `tag`, `vendor`, "
    "`attr.<name>=`, `price_min`, `price_max`, `in_stock`), `sort`, `limit`, `cursor`; "
    "`facets=` adds counts. Answers carry a weak `ETag` (`If-None-Match` gives 304) and "
    f"`Cache-Control: {CACHE_CONTROL}`.",
    responses={304: {"description": "Not modified (`If-None-Match` matched)."}},
    openapi_extra=query_parameters(StorePageQuery))
def list_products(
    request: Request,
    *, listing: tuple[service.ProductFilters, PageParams] = Depends(store_page),
    facets: list[str] | None = Query(
        None, description="Fields to count among the matching products (`attr.<name>`, `tag`, "
        "`product_type`, `category`, `vendor`); repeat or separate by commas."),
    _: Store = Depends(current_store),
    session: DbSession,
) -> Response:
    fields = store.facet_fields(facets or [])
    page = store.list_published_json(
        session, *listing, facets=fields,
        facet_ttl_seconds=request.app.state.settings.facet_cache_seconds)
    return cached_json(request, page)


@store_router.get(
    "/products/{slug}", response_model=StoreProduct,
    summary="A published product by slug (404 when it is not published)",
    description=f"Weak `ETag`, `If-None-Match` → 304, `Cache-Control: {CACHE_CONTROL}`.",
    responses={304: {"description": "Not modified (`If-None-Match` matched)."}})
def get_product(slug: str, request: Request, *, _: Store = Depends(current_store),
                session: DbSession) -> Response:
    return cached_json(request, store.get_published(session, slug))
