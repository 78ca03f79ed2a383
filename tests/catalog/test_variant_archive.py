"""Archived variants: archived and restored through the API (idempotent, audited, a product
keeps one live variant), shown to the admin, left out of the storefront and channel exports."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.catalog import published_products
from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.outbox import OutboxEvent
from tests.catalog.test_storefront import _product, _shown, _store_titles, _variant
from tests.conftest import Org, staff_token


def _card(client: TestClient, org: Org, *, tag: str, **extra: Any) -> dict[str, Any]:
    """An active card with an NM variant at 5.00 and a damaged one at 1.00."""
    return _product(client, org, f"Card {tag}", tag=tag, variants=[
        _variant(f"NM-{new_id()}", "5.00", "NM"), _variant(f"DM-{new_id()}", "1.00", "DMG")],
        **extra)


def _post(client: TestClient, org: Org, variant_id: str, action: str) -> Any:
    return client.post(f"/api/v1/variants/{variant_id}/{action}", headers=org.headers)


def test_archive_and_unarchive_set_and_clear_archived_at_and_are_idempotent(
        client: TestClient, db: Database, org: Org) -> None:
    product = _card(client, org, tag=new_id())
    variant_id = product["variants"][1]["id"]
    assert product["variants"][1]["archived_at"] is None
    archived = _post(client, org, variant_id, "archive")
    assert archived.status_code == 200, archived.text
    stamp = archived.json()["archived_at"]
    assert stamp is not None
    assert archived.headers["ETag"]
    again = _post(client, org, variant_id, "archive")
    assert (again.status_code, again.json()["archived_at"]) == (200, stamp)
    assert client.get(f"/api/v1/variants/{variant_id}",
                      headers=org.headers).json()["archived_at"] == stamp
    restored = _post(client, org, variant_id, "unarchive")
    assert (restored.status_code, restored.json()["archived_at"]) == (200, None)
    assert _post(client, org, variant_id, "unarchive").json()["archived_at"] is None
    with db.session(tenant=org.id) as session:
        kinds = session.scalars(select(OutboxEvent.type).where(
            OutboxEvent.resource_id == variant_id).order_by(OutboxEvent.position)).all()
    assert kinds == ["variant.created", "variant.archived", "variant.unarchived"]


def test_archiving_the_last_live_variant_is_a_409_that_changes_nothing(
        client: TestClient, org: Org) -> None:
    product = _card(client, org, tag=new_id())
    live, other = (v["id"] for v in product["variants"])
    assert _post(client, org, other, "archive").status_code == 200
    before = client.get(f"/api/v1/products/{product['id']}", headers=org.headers).json()
    refused = _post(client, org, live, "archive")
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "conflict"
    deleted = client.delete(f"/api/v1/variants/{live}", headers=org.headers)
    assert deleted.status_code == 409
    assert client.get(f"/api/v1/products/{product['id']}", headers=org.headers).json() == before
    single = _product(client, org, "Single", tag=new_id())
    assert _post(client, org, single["variants"][0]["id"], "archive").status_code == 409
    assert _post(client, org, "NO-SUCH-VARIANT", "archive").status_code == 404


def test_archiving_needs_catalog_write(client: TestClient, org: Org) -> None:
    product = _card(client, org, tag=new_id())
    token = staff_token(client, org, "fulfillment")
    reader = {"Authorization": f"Bearer {token}"}
    variant_id = product["variants"][1]["id"]
    for action in ("archive", "unarchive"):
        response = client.post(f"/api/v1/variants/{variant_id}/{action}", headers=reader)
        assert response.status_code == 403, response.text


def test_the_admin_listing_keeps_an_archived_variant_with_archived_at(
        client: TestClient, org: Org) -> None:
    tag = new_id()
    product = _card(client, org, tag=tag)
    variant_id = product["variants"][1]["id"]
    stamp = _post(client, org, variant_id, "archive").json()["archived_at"]
    listed = client.get("/api/v1/products", headers=org.headers, params={"tag": tag}).json()
    assert [[v["archived_at"] for v in p["variants"]] for p in listed["data"]] == \
        [[None, stamp]]
    shown = client.get(f"/api/v1/products/{product['id']}", headers=org.headers).json()
    assert [v["archived_at"] for v in shown["variants"]] == [None, stamp]


def test_the_storefront_leaves_an_archived_variant_out_of_list_detail_and_filters(
        client: TestClient, org: Org) -> None:
    tag = new_id()
    product = _card(client, org, tag=tag)
    nm, damaged = product["variants"]
    assert _post(client, org, damaged["id"], "archive").status_code == 200
    shown = _shown(client, org, product["slug"])
    assert [v["sku"] for v in shown["variants"]] == [nm["sku"]]
    assert shown["price_range"] == {"min": "5.00", "max": "5.00", "currency": "USD"}
    listed = client.get(f"/store/v1/{org.slug}/products", params={"tag": tag}).json()["data"]
    assert [[v["sku"] for v in p["variants"]] for p in listed] == [[nm["sku"]]]
    assert _store_titles(client, org, tag=tag, **{"attr.condition": "DMG"}) == []
    assert _store_titles(client, org, tag=tag, price_max="2.00") == []
    assert _post(client, org, damaged["id"], "unarchive").status_code == 200
    assert [v["sku"] for v in _shown(client, org, product["slug"])["variants"]] == \
        [nm["sku"], damaged["sku"]]
    assert _store_titles(client, org, tag=tag, **{"attr.condition": "DMG"}) == \
        [product["title"]]


def test_channel_exports_leave_an_archived_variant_out(
        client: TestClient, db: Database, org: Org) -> None:
    product = _card(client, org, tag=new_id(), channels=["shopify"])
    nm, damaged = product["variants"]
    assert _post(client, org, damaged["id"], "archive").status_code == 200

    def exported() -> list[str]:
        with db.session(tenant=org.id) as session:
            found = [p for p in published_products(session, "shopify", limit=1000)
                     if p.id == product["id"]]
        return [v.sku for p in found for v in p.variants]

    assert exported() == [nm["sku"]]
    assert _post(client, org, damaged["id"], "unarchive").status_code == 200
    assert exported() == [nm["sku"], damaged["sku"]]
