"""Query-string models: one validation per request, the same 422s and API document as FastAPI."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from mercato.core.problems import install_error_handlers
from mercato.core.query import parse_query, prefixed, query_parameters
from tests.conftest import Org


class Filters(BaseModel):
    q: str | None = Field(None, max_length=5, description="Words.")
    price_min: Decimal | None = Field(None, ge=0, description="At least.")
    in_stock: bool | None = None
    sort: Literal["title", "-title"] = "title"
    limit: int = Field(50, ge=1, le=250, description="Items per page.")


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/declared")
    def declared(q: str | None = Query(None, max_length=5, description="Words."),
                 price_min: Decimal | None = Query(None, ge=0, description="At least."),
                 in_stock: bool | None = Query(None),
                 sort: Literal["title", "-title"] = Query("title"),
                 limit: int = Query(50, ge=1, le=250, description="Items per page.")) -> None:
        return None

    async def filters(request: Request) -> Filters:
        return parse_query(Filters, request)

    @app.get("/model", openapi_extra=query_parameters(Filters))
    def model(found: Filters = Depends(filters),
              request: Request = None) -> dict[str, object]:  # type: ignore[assignment]
        return {**found.model_dump(mode="json"), "attr": prefixed(request, "attr.")}

    return app


def test_a_query_model_is_documented_as_fastapi_documents_the_same_parameters() -> None:
    paths = _app().openapi()["paths"]
    declared = {p["name"]: p for p in paths["/declared"]["get"]["parameters"]}
    documented = {p["name"]: p for p in paths["/model"]["get"]["parameters"]}
    assert documented == declared


def test_a_query_model_reads_values_and_refuses_bad_ones_naming_each_parameter() -> None:
    client = TestClient(_app())
    good = client.get("/model?q=ab&price_min=1.50&in_stock=true&sort=-title&limit=2"
                      "&attr.game=magic&attr.game=pokemon&attr.rarity=rare&other=x")
    assert good.status_code == 200, good.text
    assert good.json() == {"q": "ab", "price_min": "1.50", "in_stock": True, "sort": "-title",
                           "limit": 2, "attr": {"game": ["magic", "pokemon"],
                                                "rarity": ["rare"]}}
    for path in ("/model", "/declared"):  # the same answer as FastAPI's own parameters
        bad = client.get(f"{path}?q=toolong&price_min=-1&in_stock=maybe&sort=x&limit=0")
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert sorted(e["field"] for e in bad.json()["errors"]) == [
            "in_stock", "limit", "price_min", "q", "sort"]


def test_the_product_listing_refuses_bad_filters_with_a_422_naming_them(
        client: TestClient, org: Org) -> None:
    bad = client.get("/api/v1/products?limit=0&status=gone&price_max=-2", headers=org.headers)
    assert bad.status_code == 422
    assert sorted(e["field"] for e in bad.json()["errors"]) == ["limit", "price_max", "status"]
