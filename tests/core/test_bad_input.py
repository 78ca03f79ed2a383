"""Bad input is a 4xx problem, never a server error (issue 22, item 8)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Org, walk_pages
from tests.inventory.helpers import make_variants
from tests.storefront_helpers import store_url


def problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


def raw_json(client: TestClient, method: str, path: str, text: str,
             headers: dict[str, str] | None = None) -> Any:
    return client.request(method, path, content=text.encode(),
                          headers={**(headers or {}), "Content-Type": "application/json"})


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# --- NUL -----------------------------------------------------------------------------------

NUL_BODY = '{"email": "a\\u0000@x.test", "password": "p\\u0000assword-long-enough"}'


def test_nul_in_sign_in_bodies_is_422(client: TestClient, org: Org) -> None:
    problem(raw_json(client, "POST", "/api/v1/auth/token", NUL_BODY), 422, "validation_error")
    problem(raw_json(client, "POST", store_url(org.slug, "/auth/token"), NUL_BODY), 422)
    problem(raw_json(client, "POST", store_url(org.slug, "/customers"), NUL_BODY), 422)
    problem(raw_json(client, "POST", store_url(org.slug, "/auth/password-reset"), NUL_BODY), 422)


@pytest.mark.parametrize("path", [
    "/api/v1/products?q=a%00", "/api/v1/products?tag=a%00", "/api/v1/products?vendor=%00",
    "/api/v1/products?attr.color=%00", "/api/v1/products?attr.co%00lor=red",
    "/api/v1/customers?q=%00", "/api/v1/orders?q=%00", "/api/v1/orders?tag=%00",
    "/api/v1/inventory/levels?sku=%00", "/api/v1/gift-cards?code=%00abcdefgh",
])
def test_nul_in_staff_query_strings_is_422(client: TestClient, org: Org, path: str) -> None:
    problem(client.get(path, headers=org.headers), 422, "validation_error")


@pytest.mark.parametrize("path", [
    "/products?q=%00", "/products?tag=%00", "/products?attr.color=%00", "/products/sl%00ug",
    "/products?category=%00", "/locations?sku=%00",
])
def test_nul_in_storefront_query_and_path_is_422(client: TestClient, org: Org, path: str) -> None:
    problem(client.get(store_url(org.slug, path)), 422, "validation_error")


def test_nul_in_the_store_slug_is_422(client: TestClient) -> None:
    problem(client.get("/store/v1/sh%00op/products"), 422, "validation_error")


# --- lone surrogates -----------------------------------------------------------------------

SURROGATE_BODY = '{"email": "a\\ud800@x.test", "password": "correct horse battery"}'


def test_a_lone_surrogate_in_json_is_422(client: TestClient, org: Org) -> None:
    problem(raw_json(client, "POST", "/api/v1/auth/token", SURROGATE_BODY), 422)
    problem(raw_json(client, "POST", store_url(org.slug, "/auth/token"), SURROGATE_BODY), 422)
    problem(raw_json(client, "POST", store_url(org.slug, "/customers"), SURROGATE_BODY), 422)
    problem(raw_json(client, "POST", "/api/v1/customers",
                     '{"email": "b@x.test", "first_name": "\\udfff"}', org.headers), 422)
    problem(raw_json(client, "POST", "/api/v1/price-lists",
                     '{"name": "\\ud83d", "currency": "USD"}', org.headers), 422)


def test_a_surrogate_pair_in_json_is_text(client: TestClient, org: Org) -> None:
    made = raw_json(client, "POST", "/api/v1/price-lists",
                    '{"name": "Fun \\ud83d\\ude00", "currency": "USD"}', org.headers)
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "Fun \U0001f600"


# --- cursors -------------------------------------------------------------------------------

CURSORS = [[[1, 2, 3], "x"], [{"t": 1e400}, "x"], [None, None], [{"t": "nope"}, "x"],
           [{"t": "2020-01-01T00:00:00"}, "x"], [{"d": "1e999999"}, "x"], [True, 1],
           [{"t": "2020-01-01T00:00:00+00:00"}, [1]], [{"t": "2020-01-01T00:00:00+00:00"}, 7],
           [{"t": "2020-01-01T00:00:00+00:00"}, "x\u0000"], [1, 2], [2**70, "x"], "x"]


@pytest.mark.parametrize("value", CURSORS, ids=[json.dumps(c) for c in CURSORS])
def test_a_crafted_cursor_is_a_400_on_the_field_cursor(client: TestClient, org: Org,
                                                      value: Any) -> None:
    cursor = cursor_of(value)
    for path, headers in (("/api/v1/orders", org.headers), ("/api/v1/products", org.headers),
                          ("/api/v1/customers", org.headers),
                          ("/api/v1/gift-cards", org.headers),
                          (store_url(org.slug, "/products"), {})):
        body = problem(client.get(path, headers=headers, params={"cursor": cursor}), 400)
        assert [e["field"] for e in body["errors"]] == ["cursor"], (path, body)


def test_cursors_the_lists_write_still_walk_every_sort(client: TestClient, org: Org) -> None:
    for price in ("1.00", "2.00", "3.00"):
        make_variants(client, org, price=price)
    for sort in ("title", "-price", "price", "created", "-updated"):
        items = walk_pages(client, "/api/v1/products", org.headers, limit=1, sort=sort)
        assert len(items) == 3, sort



@pytest.mark.parametrize("value", ["1e999999", "1e30", "-1", "NaN", "Infinity", "0.001"])
def test_a_price_filter_past_the_largest_amount_is_422_or_matches_nothing(
        client: TestClient, org: Org, value: str) -> None:
    for path, headers in (("/api/v1/products", org.headers),
                          (store_url(org.slug, "/products"), {})):
        for name in ("price_min", "price_max"):
            response = client.get(path, headers=headers, params={name: value})
            assert response.status_code in (200, 422), (path, name, response.text)
            if response.status_code == 422:
                problem(response, 422, "validation_error")


@pytest.mark.parametrize("path", [
    "/api/v1/orders?q=%ED%A0%80", "/api/v1/customers?q=a%ED%A0%80", "/api/v1/products/%ED%A0%80",
    "/api/v1/products?attr.%ED%A0%80=x", "/api/v1/inventory/levels?sku=%FF%FE",
])
def test_undecodable_bytes_in_a_query_or_path_are_text_or_a_4xx(client: TestClient, org: Org,
                                                                path: str) -> None:
    response = client.get(path, headers=org.headers)
    assert response.status_code in (200, 404, 422), response.text
    if response.status_code != 200:
        problem(response, response.status_code)
