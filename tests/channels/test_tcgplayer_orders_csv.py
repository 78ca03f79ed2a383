"""TCGplayer's order export imported as orders of a channel of kind ``tcgplayer``: grouped by
order number, deduped by it, bad rows reported by line, and no email from Mercato."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.outbox import Dispatcher
from mercato.notifications.models import Notification
from tests.catalog.test_imports import TCG_HEADER, import_csv
from tests.conftest import Org

ORDER_HEADER = ("Order #,Order Date,Buyer Name,Buyer Email,Product Name,Set Name,Condition,"
                "Quantity,Price,TCGplayer Id,Shipping Fee")


def _digits() -> str:
    return str(int(new_id()[-7:], 36))


def _setup(client: TestClient, org: Org, db: Database) -> tuple[str, str, str]:
    """A location, a tcgplayer channel selling from it, and two cards 5 on hand each."""
    t = _digits()
    made = client.post("/api/v1/locations", headers=org.headers,
                       json={"name": "Store", "code": f"store-{t}"})
    assert made.status_code == 201, made.text
    location = made.json()["id"]
    channel = client.post("/api/v1/channels", headers=org.headers, json={
        "name": "TCGplayer", "kind": "tcgplayer", "locations": [location]})
    assert channel.status_code == 201, channel.text
    rows = [f"{n}{t},Magic: The Gathering,Set {t},Card {n},,{n},Rare,Near Mint,,,,,5,,"
            f"{n}.00," for n in (1, 2)]
    job = import_csv(client, org, db, ("\n".join([TCG_HEADER, *rows]) + "\n").encode())
    assert job["status"] == "succeeded", job
    return channel.json()["id"], t, location


def _post(client: TestClient, org: Org, channel_id: str, *rows: str,
          header: str = ORDER_HEADER) -> Any:
    content = ("\n".join([header, *rows]) + "\n").encode()
    return client.post(f"/api/v1/channels/{channel_id}/orders/import", headers=org.headers,
                       files={"file": ("orders.csv", content, "text/csv")})


def _on_hand(client: TestClient, org: Org, sku: str) -> int:
    levels = client.get("/api/v1/inventory/levels", headers=org.headers, params={"sku": sku})
    return sum(lv["on_hand"] for lv in levels.json()["data"])


def test_an_order_export_becomes_orders_grouped_by_number_and_a_second_import_dedupes(
    client: TestClient, org: Org, db: Database
) -> None:
    channel_id, t, _ = _setup(client, org, db)
    rows = [
        f"A-{t},01/15/2026 10:30:00 AM,Ada Lovelace,ada-{t}@example.test,Card 1,Set,"
        f"Near Mint,2,1.50,1{t},0.99",
        f"B-{t},2026-01-16,Bob,,Card 2,Set,Near Mint,1,2.00,2{t},",
        f"A-{t},01/15/2026 10:30:00 AM,Ada Lovelace,ada-{t}@example.test,Card 2,Set,"
        f"Near Mint,1,2.25,2{t},0.99",
    ]
    first = _post(client, org, channel_id, *rows)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["created"], body["duplicates"], body["failed"]) == (2, 0, 0), body
    assert body["errors"] == []
    ids = {o["order_number"]: o["order_id"] for o in body["orders"]}
    order = client.get(f"/api/v1/orders/{ids[f'A-{t}']}", headers=org.headers).json()
    assert order["channel_id"] == channel_id
    assert order["external_id"] == f"A-{t}"
    assert [(ln["sku"], ln["quantity"], ln["unit_price"]) for ln in order["lines"]] == [
        (f"TCG-1{t}", 2, "1.50"), (f"TCG-2{t}", 1, "2.25")]
    assert order["total"] == "6.24"  # 3.00 + 2.25 + 0.99 shipping
    assert order["financial_status"] == "paid"
    assert order["placed_at"].startswith("2026-01-15T10:30:00")
    assert _on_hand(client, org, f"TCG-1{t}") == 3  # sold: the order took its units

    again = _post(client, org, channel_id, *rows)
    assert again.status_code == 200, again.text
    assert (again.json()["created"], again.json()["duplicates"]) == (0, 2)
    assert {o["order_id"] for o in again.json()["orders"]} == set(ids.values())
    assert _on_hand(client, org, f"TCG-1{t}") == 3  # no stock moved again
    listed = client.get("/api/v1/orders", headers=org.headers,
                        params={"limit": 50}).json()["data"]
    assert sorted(o["external_id"] for o in listed) == [f"A-{t}", f"B-{t}"]

    Dispatcher(db).drain()  # a platform channel's buyers get no email from Mercato
    with db.session(write=False, tenant=org.id) as session:
        assert session.scalars(select(Notification.recipient)).all() == []


def test_bad_rows_fail_their_own_order_with_line_numbers_and_the_others_are_imported(
    client: TestClient, org: Org, db: Database
) -> None:
    channel_id, t, _ = _setup(client, org, db)
    response = _post(
        client, org, channel_id,
        f"C-{t},2026-01-16,Cy,,Card 1,Set,Near Mint,1,1.00,1{t},",
        f"D-{t},2026-01-16,Di,,Card 1,Set,Near Mint,two,1.00,1{t},",
        f"D-{t},2026-01-16,Di,,Card 2,Set,Near Mint,1,1.00,2{t},",
        f"E-{t},2026-01-16,Ed,,Nope,Set,Near Mint,1,1.00,999{t},",
        f",2026-01-16,Fa,,Card 1,Set,Near Mint,1,1.00,1{t},",
        f"G-{t},yesterday,Gi,,Card 1,Set,Near Mint,1,1.0001,1{t},",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["duplicates"], body["failed"]) == (1, 0, 4), body
    errors = [(e["line"], e["field"]) for e in body["errors"]]
    assert errors == [(3, "Quantity"), (4, ""), (5, "TCGplayer Id"), (6, "Order #"),
                      (7, "Price"), (7, "Order Date")]
    by_line = {e["line"]: e["message"] for e in body["errors"]}
    assert by_line[4] == "not imported: line 3 of the same order failed"
    assert f"TCG-999{t}" in by_line[5]
    outcomes = {o["order_number"]: o["outcome"] for o in body["orders"]}
    assert outcomes == {f"C-{t}": "created", f"D-{t}": "failed", f"E-{t}": "failed",
                        f"G-{t}": "failed"}


def test_the_channel_must_be_tcgplayers_and_the_file_an_order_export(
    client: TestClient, org: Org, db: Database
) -> None:
    channel_id, t, location = _setup(client, org, db)
    pos = client.post("/api/v1/channels", headers=org.headers, json={
        "name": "Till", "kind": "pos", "locations": [location]})
    wrong_kind = _post(client, org, pos.json()["id"],
                       f"H-{t},2026-01-16,Hu,,Card 1,Set,Near Mint,1,1.00,1{t},")
    assert wrong_kind.status_code == 422
    assert wrong_kind.json()["errors"][0]["field"] == "channel"
    not_orders = _post(client, org, channel_id, "1,2", header="sku,title")
    assert not_orders.status_code == 422
    assert not_orders.json()["errors"][0]["field"] == "file"
    assert "Order #" in not_orders.json()["detail"]
    missing = client.post("/api/v1/channels/01ZZZZZZZZZZZZZZZZZZZZZZZZ/orders/import",
                          headers=org.headers,
                          files={"file": ("o.csv", ORDER_HEADER.encode(), "text/csv")})
    assert missing.status_code == 404
    # a lenient header: other names for the columns, and a Mercato SKU instead of an id
    other = _post(client, org, channel_id, f"I-{t},1,TCG-1{t},$3.00",
                  header="Order Number,Qty,SKU,Item Price")
    assert other.status_code == 200, other.text
    assert other.json()["created"] == 1
    made = other.json()["orders"][0]["order_id"]
    assert client.get(f"/api/v1/orders/{made}", headers=org.headers).json()["total"] == "3.00"
