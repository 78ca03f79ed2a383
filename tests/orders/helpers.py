"""Shared setup for order tests: stocked SKUs and orders through the API."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.conftest import Org
from tests.inventory.helpers import level, make_location, make_variants, receive


def stocked(client: TestClient, org: Org, units: list[int], *, price: str = "10.00",
            location: dict[str, Any] | None = None) -> tuple[list[str], dict[str, Any]]:
    """New SKUs with these units on hand at one (new) location, which ships online."""
    place = location or make_location(client, org)
    skus = make_variants(client, org, len(units), price=price)
    for sku, n in zip(skus, units, strict=True):
        if n:
            receive(client, org, sku, place["code"], n)
    return skus, place


def order_body(lines: list[tuple[str, int]], *, channel: str = "manual",
               external_id: str | None = None, price: str = "10.00",
               **extra: Any) -> dict[str, Any]:
    return {"channel": channel, "currency": "USD",
            **({"external_id": external_id} if external_id else {}),
            "lines": [{"sku": sku, "quantity": q, "unit_price": price} for sku, q in lines],
            **extra}


def place_order(client: TestClient, org: Org, lines: list[tuple[str, int]],
                **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/orders", headers=org.headers,
                           json=order_body(lines, **extra))
    assert response.status_code == 201, response.text
    return dict(response.json())


def on_hand(client: TestClient, org: Org, sku: str, place: dict[str, Any]) -> int:
    return int(level(client, org, sku, place["code"])["on_hand"])


def unique() -> str:
    return new_id()


def place_raw(client: TestClient, org: Org, **body: Any) -> dict[str, Any]:
    """An order from a body written out in full (channel and currency default)."""
    response = client.post("/api/v1/orders", headers=org.headers,
                           json={"channel": "manual", "currency": "USD", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())
