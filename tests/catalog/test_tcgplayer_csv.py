"""TCGplayer's inventory file both ways: its stock at a location (Total Quantity as a
difference from the last file, Add to Quantity once per file), rarities and conditions kept
as data with warnings, and the export a store uploads to TCGplayer for a sales channel."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient

from mercato.catalog.imports import apply_dry_run
from mercato.catalog.models import ImportJob
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.catalog.test_imports import TCG_HEADER, import_csv, run_to_end, upload
from tests.conftest import Org


def _digits() -> str:
    """A fresh number: TCGplayer Ids are digits (``TCG-<id>`` SKUs export only then)."""
    return str(int(new_id()[-7:], 36))


def _file(*rows: tuple[str, ...]) -> bytes:
    """Rows of (id, product line, set, name, number, rarity, condition, total, add, price)."""
    lines = [TCG_HEADER]
    for tcg_id, line, set_name, name, number, rarity, condition, total, add, price in rows:
        lines.append(f"{tcg_id},{line},{set_name},{name},,{number},{rarity},{condition},"
                     f",,,,{total},{add},{price},")
    return ("\n".join(lines) + "\n").encode()


def _card(tcg_id: str, *, total: str = "", add: str = "", price: str = "1.00",
          rarity: str = "Rare", condition: str = "Near Mint", name: str = "Card",
          t: str = "") -> tuple[str, ...]:
    return (tcg_id, "Magic: The Gathering", f"Set {t}", f"{name} {tcg_id}", tcg_id[-3:],
            rarity, condition, total, add, price)


def _location(client: TestClient, org: Org, code: str) -> str:
    made = client.post("/api/v1/locations", headers=org.headers,
                       json={"name": code, "code": code})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _on_hand(client: TestClient, org: Org, sku: str, location_id: str) -> int:
    levels = client.get("/api/v1/inventory/levels", headers=org.headers, params={"sku": sku})
    if levels.status_code == 404:  # no such variant (yet)
        return 0
    assert levels.status_code == 200, levels.text
    return next((lv["on_hand"] for lv in levels.json()["data"]
                 if lv["location_id"] == location_id), 0)


def _sell(client: TestClient, org: Org, sku: str, location_id: str, units: int) -> None:
    sold = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": sku, "location": location_id, "delta": -units, "reason": "sale"}]})
    assert sold.status_code == 201, sold.text


def test_the_first_import_sets_on_hand_and_later_files_apply_only_their_difference(
    client: TestClient, org: Org, db: Database
) -> None:
    store = _location(client, org, f"store-{new_id()[-6:].lower()}")  # the only location
    t = _digits()
    a, b = f"1{t}", f"2{t}"
    first = _file(_card(a, total="5", t=t), _card(b, total="3", t=t))
    job = import_csv(client, org, db, first)
    assert job["status"] == "succeeded", job
    assert job["location_id"] == store
    assert (_on_hand(client, org, f"TCG-{a}", store), _on_hand(client, org, f"TCG-{b}", store)) \
        == (5, 3)

    _sell(client, org, f"TCG-{a}", store, 2)
    again = import_csv(client, org, db, first)  # the same file: the sale is kept
    assert again["status"] == "succeeded", again
    assert _on_hand(client, org, f"TCG-{a}", store) == 3
    assert _on_hand(client, org, f"TCG-{b}", store) == 3

    changed = import_csv(client, org, db, _file(_card(a, total="8", t=t),
                                                _card(b, total="1", t=t)))
    assert changed["status"] == "succeeded", changed
    assert _on_hand(client, org, f"TCG-{a}", store) == 6  # 3 + (8 - 5)
    assert _on_hand(client, org, f"TCG-{b}", store) == 1  # 3 + (1 - 3)
    ledger = client.get("/api/v1/inventory/ledger", headers=org.headers,
                        params={"sku": f"TCG-{a}", "reason": "import"}).json()["data"]
    assert sorted(m["delta_on_hand"] for m in ledger) == [3, 5]
    assert {m["reference"] for m in ledger} == {f"import:{job['id']}",
                                                f"import:{changed['id']}"}


def test_add_to_quantity_adds_once_per_file_even_when_the_file_is_imported_twice(
    client: TestClient, org: Org, db: Database
) -> None:
    store = _location(client, org, f"shop-{new_id()[-6:].lower()}")
    t = _digits()
    a, b = f"3{t}", f"4{t}"
    adds = _file(_card(a, add="4", t=t), _card(b, total="5", add="2", t=t))
    first = import_csv(client, org, db, adds, location=store)
    assert (first["status"], first["adds_skipped"]) == ("succeeded", False), first
    assert _on_hand(client, org, f"TCG-{a}", store) == 4
    assert _on_hand(client, org, f"TCG-{b}", store) == 7  # Total Quantity, then the add

    twice = import_csv(client, org, db, adds, location=store)
    assert twice["adds_skipped"] is True
    assert "Add to Quantity was not applied again" in twice["message"]
    assert _on_hand(client, org, f"TCG-{a}", store) == 4
    assert _on_hand(client, org, f"TCG-{b}", store) == 7

    # a new file adds its own; one whose Total Quantity includes the earlier add moves nothing
    more = import_csv(client, org, db, _file(_card(a, add="1", t=t), _card(b, total="7", t=t)),
                      location=store)
    assert more["adds_skipped"] is False
    assert _on_hand(client, org, f"TCG-{a}", store) == 5
    assert _on_hand(client, org, f"TCG-{b}", store) == 7


def test_a_file_that_would_take_stock_below_what_is_reserved_reports_that_row_only(
    client: TestClient, org: Org, db: Database
) -> None:
    store = _location(client, org, f"st-{new_id()[-6:].lower()}")
    t = _digits()
    a, b = f"5{t}", f"6{t}"
    import_csv(client, org, db, _file(_card(a, total="5", t=t), _card(b, total="5", t=t)))
    held = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"hold-{t}", "lines": [{"sku": f"TCG-{a}", "quantity": 4,
                                             "location": store}]})
    assert held.status_code == 201, held.text
    job = import_csv(client, org, db, _file(_card(a, total="2", t=t),
                                            _card(b, total="1", t=t)))
    assert job["status"] == "completed_with_errors", job
    assert (job["failed"], job["unchanged"]) == (1, 1)
    error = job["errors"][0]
    assert (error["line"], error["field"], error["severity"]) == (2, "Total Quantity", "error")
    assert "reserved" in error["message"]
    assert _on_hand(client, org, f"TCG-{a}", store) == 5  # refused: left as it was
    assert _on_hand(client, org, f"TCG-{b}", store) == 1

    held_released = client.post(f"/api/v1/inventory/reservations/{held.json()['id']}/release",
                                headers=org.headers)
    assert held_released.status_code == 200, held_released.text
    retried = import_csv(client, org, db, _file(_card(a, total="2", t=t),
                                                _card(b, total="1", t=t)))
    assert retried["status"] == "succeeded", retried  # the refused row's record was kept
    assert _on_hand(client, org, f"TCG-{a}", store) == 2


def test_a_location_that_cannot_be_used_is_a_422_that_creates_nothing(
    client: TestClient, org: Org, db: Database
) -> None:
    t = _digits()
    with_stock = _file(_card(f"7{t}", total="2", t=t))

    def refused(content: bytes, **form: str) -> dict[str, Any]:
        response = client.post("/api/v1/imports", headers=org.headers,
                               files={"file": ("cards.csv", content, "text/csv")}, data=form)
        assert response.status_code == 422, response.text
        return dict(response.json())

    def jobs() -> int:
        with db.session(write=False, tenant=org.id) as session:
            return len(session.query(ImportJob).all())

    before = jobs()
    assert refused(with_stock)["errors"][0]["field"] == "location"  # no location at all
    _location(client, org, f"a-{t.lower()}")
    _location(client, org, f"b-{t.lower()}")
    assert "more than one" in refused(with_stock)["errors"][0]["message"]
    assert refused(with_stock, location="nowhere")["errors"][0] == {
        "field": "location", "message": "no location 'nowhere'"}
    mercato_layout = b"sku,title\nX-1,X\n"
    assert refused(mercato_layout, location=f"a-{t.lower()}")["errors"][0]["field"] \
        == "location"
    assert jobs() == before
    no_stock = import_csv(client, org, db, _file(_card(f"8{t}", t=t)))  # nothing to place
    assert no_stock["status"] == "succeeded"
    assert no_stock["location_id"] is None


def test_lorcana_rarities_are_kept_and_what_mercato_does_not_know_is_kept_with_a_warning(
    client: TestClient, org: Org, db: Database
) -> None:
    t = _digits()
    rows = [(f"{i}1{t}", "Disney Lorcana", f"The First Chapter {t}", f"Card {i}", str(i),
             rarity, "Near Mint", "", "", "1.00")
            for i, rarity in enumerate(("Super Rare", "Legendary", "Enchanted", "Epic",
                                        "Iconic"), start=1)]
    rows += [
        (f"61{t}", "Magic: The Gathering", f"Set {t}", "Odd Rarity", "6", "Mega Shiny",
         "Near Mint Foil", "", "", "2.00"),
        (f"71{t}", "Sorcery Contested Realm", f"Alpha {t}", "Unknown Game", "7", "Elite",
         "Near Mint", "", "", "3.00"),
        (f"81{t}", "Pokemon", f"Base {t}", "Odd Condition", "8", "Illustration Rare",
         "Excellent Holofoil", "", "", "4.00"),
    ]
    job = import_csv(client, org, db, _file(*rows))
    assert job["status"] == "succeeded", job
    assert (job["created"], job["failed"]) == (8, 0)
    warnings = [(e["line"], e["field"]) for e in job["errors"] if e["severity"] == "warning"]
    assert warnings == [(7, "Rarity"), (8, "Product Line"), (8, "Rarity"), (9, "Condition")]
    assert job["warnings"] == 4
    assert "4 warning(s)" in job["message"]

    products = {p["title"]: p for p in client.get(
        "/api/v1/products", headers=org.headers, params={"q": t, "limit": 50}).json()["data"]}
    assert [products[f"Card {i}"]["attributes"]["rarity"] for i in range(1, 6)] == [
        "super-rare", "legendary", "enchanted", "epic", "iconic"]
    assert products["Card 1"]["attributes"]["game"] == "lorcana"
    assert products["Odd Rarity"]["attributes"]["rarity"] == "mega-shiny"
    assert products["Unknown Game"]["attributes"]["game"] == "other"
    assert products["Unknown Game"]["attributes"]["product_line"] == "Sorcery Contested Realm"
    assert products["Odd Condition"]["variants"][0]["attributes"] == {
        "condition": "Excellent Holofoil", "finish": "holo", "language": "EN"}

    # the export writes them back as TCGplayer spells them, and imports back unchanged
    channel = client.post("/api/v1/channels", headers=org.headers,
                          json={"name": "TCGplayer", "kind": "tcgplayer"})
    assert channel.status_code == 201, channel.text
    exported = client.get("/api/v1/exports/products.csv", headers=org.headers,
                          params={"format": "tcgplayer", "q": t})
    assert exported.status_code == 200, exported.text
    by_id = {r["TCGplayer Id"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert [by_id[f"{i}1{t}"]["Rarity"] for i in range(1, 6)] == [
        "Super Rare", "Legendary", "Enchanted", "Epic", "Iconic"]
    assert by_id[f"11{t}"]["Product Line"] == "Lorcana TCG"
    assert by_id[f"71{t}"]["Product Line"] == "Sorcery Contested Realm"
    assert by_id[f"81{t}"]["Condition"] == "Excellent Holofoil"
    assert by_id[f"61{t}"]["Condition"] == "Near Mint Foil"
    _location(client, org, f"s-{t}")  # its Total Quantity (0) needs a place
    back = import_csv(client, org, db, exported.content)
    assert (back["unchanged"], back["created"], back["updated"]) == (8, 0, 0), back["errors"]


def test_the_export_writes_the_channels_available_to_sell_and_price(
    client: TestClient, org: Org, db: Database
) -> None:
    t = _digits()
    shop, back_room = _location(client, org, f"shop-{t}"), _location(client, org, f"back-{t}")
    a, b, c = f"1{t}", f"2{t}", f"3{t}"
    job = import_csv(client, org, db, _file(
        _card(a, total="5", price="10.00", t=t), _card(b, total="3", price="2.50", t=t),
        _card(c, total="1", price="1.00", t=t)), location=shop)
    assert job["status"] == "succeeded", job
    moved = client.post("/api/v1/inventory/adjustments", headers=org.headers, json={
        "lines": [{"sku": f"TCG-{a}", "location": back_room, "delta": 10}]})
    assert moved.status_code == 201, moved.text

    refused = client.get("/api/v1/exports/products.csv", headers=org.headers,
                         params={"format": "tcgplayer"})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "channel"
    assert "kind 'tcgplayer'" in refused.json()["detail"]

    channel = client.post("/api/v1/channels", headers=org.headers, json={
        "name": "TCGplayer", "kind": "tcgplayer", "locations": [shop], "default_buffer": 1})
    assert channel.status_code == 201, channel.text
    buffers = client.put(f"/api/v1/channels/{channel.json()['id']}/buffers",
                         headers=org.headers,
                         json={"buffers": [{"sku": f"TCG-{b}", "buffer": 2}]})
    assert buffers.status_code == 200, buffers.text
    price_list = client.post("/api/v1/price-lists", headers=org.headers, json={
        "name": "Everyone", "currency": "USD",
        "entries": [{"sku": f"TCG-{a}", "price": "9.00"}]})
    assert price_list.status_code == 201, price_list.text
    pos_rule = client.post("/api/v1/pricing-rules", headers=org.headers, json={
        "title": "POS only", "adjustment": "percentage", "value": "50",
        "channel_kinds": ["pos"]})
    assert pos_rule.status_code == 201, pos_rule.text

    exported = client.get("/api/v1/exports/products.csv", headers=org.headers,
                          params={"format": "tcgplayer", "q": t})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"] == \
        'attachment; filename="products-tcgplayer.csv"'
    reader = csv.reader(io.StringIO(exported.text))
    assert next(reader) == TCG_HEADER.split(",")
    rows = {r["TCGplayer Id"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert {k: (r["Total Quantity"], r["TCG Marketplace Price"], r["Add to Quantity"])
            for k, r in rows.items()} == {
        a: ("4", "9.00", ""),   # the shop's 5 (not the back room's), less the buffer of 1
        b: ("1", "2.50", ""),   # its own buffer of 2
        c: ("0", "1.00", "")}
    assert rows[a]["Condition"] == "Near Mint"
    assert rows[a]["Product Line"] == "Magic"

    named = client.get("/api/v1/exports/products.csv", headers=org.headers,
                       params={"format": "tcgplayer", "channel": "nope"})
    assert named.status_code == 422
    assert named.json()["errors"][0]["field"] == "channel"


def test_a_dry_run_checks_the_quantities_and_its_real_run_keeps_the_location(
    client: TestClient, org: Org, db: Database
) -> None:
    """A dry run reports the stock rows it would refuse, and imported for real from the dry
    run it keeps the dry run's location."""
    store = _location(client, org, f"dry-{new_id()[-6:].lower()}")
    t = _digits()
    content = _file(_card(f"9{t}", total="bad", t=t), _card(f"10{t}", total="2", t=t))
    dry = upload(client, org, content, dry_run="true", location=store)
    done = run_to_end(client, org, db, dry["id"])
    assert done["failed"] == 1, done
    assert done["errors"][0]["field"] == "Total Quantity"
    assert _on_hand(client, org, f"TCG-10{t}", store) == 0
    with db.transaction(tenant=org.id) as session:  # the admin's "import it for real"
        real_id = apply_dry_run(session, dry["id"], created_by=None).id
    applied = run_to_end(client, org, db, real_id)
    assert applied["location_id"] == store
    assert applied["failed"] == 1
    assert _on_hand(client, org, f"TCG-10{t}", store) == 2
