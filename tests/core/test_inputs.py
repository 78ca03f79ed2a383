"""A NUL character (U+0000) anywhere a request sends text is a 422 naming the field.

PostgreSQL cannot store NUL in text or JSONB, so these requests were server errors there (and
succeeded on SQLite); the fuzz pass (tests/test_fuzz.py) found them in price lists, stock
adjustments, counts, reservations, customers and gift cards.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from mercato.core.inputs import json_nul_fields, nul_errors
from tests.conftest import Org
from tests.inventory.helpers import make_location, make_variants


def refused(response: Any, fields: list[str]) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (422, "validation_error")
    assert [e["field"] for e in body["errors"]] == fields
    assert all("NUL" in e["message"] for e in body["errors"])


def test_a_nul_in_a_json_string_is_422_naming_the_field_and_stores_nothing(
        client: TestClient, org: Org) -> None:
    refused(client.post("/api/v1/price-lists", headers=org.headers,
                        json={"name": "Spring\x00", "currency": "USD"}), ["name"])
    assert client.get("/api/v1/price-lists", headers=org.headers).json()["data"] == []


@pytest.mark.parametrize(("path", "body", "fields"), [
    ("/api/v1/inventory/adjustments",
     {"lines": [{"sku": "A\x00", "location": "X", "delta": 1, "reason": "restock"}]},
     ["lines.0.sku"]),
    ("/api/v1/inventory/reservations",
     {"reference": "R1", "lines": [{"sku": "\x00", "quantity": 1}]}, ["lines.0.sku"]),
    ("/api/v1/locations", {"name": "Back room", "code": "BR", "\x00": 1}, ["\\u0000"]),
    ("/api/v1/customers", {"email": "a@example.com", "tags": ["ok", "n\x00"]}, ["tags.1"]),
])
def test_a_nul_in_a_nested_value_or_a_key_is_422_naming_where(
        client: TestClient, org: Org, path: str, body: dict[str, Any],
        fields: list[str]) -> None:
    refused(client.post(path, headers=org.headers, json=body), fields)


def test_stock_is_untouched_when_a_line_carries_a_nul(client: TestClient, org: Org) -> None:
    sku = make_variants(client, org)[0]
    place = make_location(client, org)
    response = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": sku, "location": place["code"], "delta": 5, "reason": "restock"},
                  {"sku": sku, "location": place["code"], "delta": 1, "reason": "r\x00"}]})
    refused(response, ["lines.1.reason"])
    levels = client.get("/api/v1/inventory/levels", headers=org.headers,
                        params={"sku": sku}).json()["data"]
    assert [lv["on_hand"] for lv in levels] in ([], [0])


def test_a_nul_in_a_query_or_path_parameter_is_422(client: TestClient, org: Org) -> None:
    refused(client.get("/api/v1/inventory/levels", headers=org.headers,
                       params={"sku": "A\x00B"}), ["sku"])
    refused(client.get("/api/v1/products/01%00", headers=org.headers), ["product_id"])
    refused(client.get("/api/v1/orders", headers=org.headers, params={"q": "\x00"}), ["q"])


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(client: TestClient,
                                                             org: Org) -> None:
    name = "C:\\u0000 list"  # a backslash, then "u0000": six ordinary characters
    created = client.post("/api/v1/price-lists", headers=org.headers,
                          json={"name": name, "currency": "USD"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == name


def test_nul_errors_name_every_field_once_in_path_query_body_order() -> None:
    body = b'{"a": "\\u0000", "b": [{"\\u0000k": "x\\u0000"}], "c": "\\\\u0000"}'
    assert json_nul_fields(body) == ["a", "b.0.\\u0000k"]
    assert json_nul_fields(b'{"broken": "\\u0000"') == []  # malformed: its parser answers
    assert json_nul_fields(b'"\\u0000"') == ["body"]
    errors = nul_errors({"id": "x\x00", "other": "y"}, [("q", "\x00"), ("q", "\x00")], body)
    assert [e["field"] for e in errors] == ["id", "q", "a", "b.0.\\u0000k"]
    assert nul_errors({"id": "x"}, [("q", "y")], b'{"a": "b"}') == []
