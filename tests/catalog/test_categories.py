"""Categories: renamed, re-slugged and moved with their subtree; deleted only when empty."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Org


def _category(client: TestClient, org: Org, slug: str, parent: str | None = None
              ) -> dict[str, Any]:
    made = client.post("/api/v1/categories", headers=org.headers,
                       json={"name": slug.title(), "slug": slug, "parent": parent})
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


def test_a_category_is_renamed_and_moved_and_its_products_follow_the_tree(
        client: TestClient, org: Org) -> None:
    magic = _category(client, org, "magic")
    pokemon = _category(client, org, "pokemon")
    singles = _category(client, org, "singles", magic["id"])
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    card = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Pikachu", "product_type": "tcg-single", "category": singles["id"],
        "attributes": {"game": "pokemon", "set_code": "BS", "collector_number": "58",
                       "rarity": "common"},
        "variants": [{"sku": "PIKA-1", "price": "2.00", "attributes": {
            "condition": "NM", "finish": "nonfoil", "language": "EN"}}]})
    assert card.status_code == 201, card.text

    moved = client.patch(f"/api/v1/categories/{singles['id']}", headers=org.headers,
                         json={"name": "Pokémon singles", "slug": "pokemon-singles",
                               "parent": "pokemon"})
    assert moved.status_code == 200, moved.text
    assert moved.json() | {"created_at": None} == {
        "id": singles["id"], "name": "Pokémon singles", "slug": "pokemon-singles",
        "parent_id": pokemon["id"], "created_at": None}

    def listed(category: str) -> list[str]:
        page = client.get("/api/v1/products", headers=org.headers,
                          params={"category": category})
        assert page.status_code == 200, page.text
        return [p["title"] for p in page.json()["data"]]

    assert listed("pokemon") == ["Pikachu"]
    assert listed("magic") == []
    top = client.patch(f"/api/v1/categories/{singles['id']}", headers=org.headers,
                       json={"parent": None})
    assert top.status_code == 200
    assert top.json()["parent_id"] is None


def test_a_category_cannot_move_under_itself_or_take_a_used_slug(
        client: TestClient, org: Org) -> None:
    magic = _category(client, org, "magic")
    singles = _category(client, org, "singles", magic["id"])
    for parent in (magic["id"], singles["id"]):
        loop = client.patch(f"/api/v1/categories/{magic['id']}", headers=org.headers,
                            json={"parent": parent})
        assert loop.status_code == 422, loop.text
        assert loop.json()["errors"][0]["field"] == "parent"
    taken = client.patch(f"/api/v1/categories/{singles['id']}", headers=org.headers,
                         json={"slug": "magic"})
    assert taken.status_code == 409
    assert taken.headers["content-type"].startswith("application/problem+json")
    assert taken.json()["errors"] == [{"field": "slug", "message": "already in use"}]
    for bad in ({"name": None}, {"slug": "Not A Slug"}, {"colour": "red"}):
        refused = client.patch(f"/api/v1/categories/{singles['id']}", headers=org.headers,
                               json=bad)
        assert refused.status_code == 422, bad
    unknown = client.patch(f"/api/v1/categories/{singles['id']}", headers=org.headers,
                           json={"parent": "no-such-category"})
    assert unknown.status_code == 404
    after = client.get(f"/api/v1/categories/{singles['id']}", headers=org.headers).json()
    assert (after["slug"], after["parent_id"]) == ("singles", magic["id"])


def test_only_an_empty_category_is_deleted(client: TestClient, org: Org) -> None:
    magic = _category(client, org, "magic")
    singles = _category(client, org, "singles", magic["id"])
    held = client.delete(f"/api/v1/categories/{magic['id']}", headers=org.headers)
    assert held.status_code == 409
    assert "subcategories" in held.json()["detail"]
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    client.post("/api/v1/products", headers=org.headers, json={
        "title": "Bolt", "product_type": "tcg-single", "category": singles["id"],
        "attributes": {"game": "magic", "set_code": "M10", "collector_number": "1",
                       "rarity": "common"},
        "variants": [{"sku": "BOLT-1", "price": "1.00", "attributes": {
            "condition": "NM", "finish": "nonfoil", "language": "EN"}}]})
    holding = client.delete(f"/api/v1/categories/{singles['id']}", headers=org.headers)
    assert holding.status_code == 409
    assert "Products" in holding.json()["detail"]
    empty = _category(client, org, "sealed")
    assert client.delete(f"/api/v1/categories/{empty['id']}",
                         headers=org.headers).status_code == 204
    assert client.get(f"/api/v1/categories/{empty['id']}",
                      headers=org.headers).status_code == 404


def test_another_organization_cannot_edit_or_delete_a_category(
        client: TestClient, org: Org, other_org: Org) -> None:
    magic = _category(client, org, "magic")
    assert client.patch(f"/api/v1/categories/{magic['id']}", headers=other_org.headers,
                        json={"name": "Mine"}).status_code == 404
    assert client.delete(f"/api/v1/categories/{magic['id']}",
                         headers=other_org.headers).status_code == 404
    assert client.get(f"/api/v1/categories/{magic['id']}",
                      headers=org.headers).json()["name"] == "Magic"
