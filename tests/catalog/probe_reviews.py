"""Probe fixtures for reviews: see tests/probe.py."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.catalog.reviews.test_reviews import published_product, write_review
from tests.conftest import Org
from tests.probe import probe_body, probe_fixture, store_probe_body, store_probe_fixture
from tests.storefront_helpers import sign_up


@probe_fixture("review_id")
def review(client: TestClient, org: Org) -> str:
    product = published_product(client, org)
    shopper = sign_up(client, org.slug)
    return str(write_review(client, org, product["slug"], shopper)["id"])


probe_body("PATCH", "/api/v1/reviews/{review_id}", {"status": "approved"})


@store_probe_fixture("review_id")
def own_review(client: TestClient, org: Org, shopper: dict[str, Any]) -> str:
    product = published_product(client, org)
    return str(write_review(client, org, product["slug"], shopper)["id"])


store_probe_body("POST", "/store/v1/{store}/products/{slug}/reviews",
                 {"rating": 5, "body": "Probe"})
store_probe_body("PATCH", "/store/v1/{store}/me/reviews/{review_id}", {"rating": 4})
