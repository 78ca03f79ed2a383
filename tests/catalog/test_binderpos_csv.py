"""BinderPOS's product CSV: import (cards keyed by game type, Binder ID and variant title) and
export in the same layout; on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from mercato.catalog.csvio import BINDERPOS_COLUMNS
from mercato.catalog.models import ImportJob
from mercato.core.db import Database
from mercato.settings import Settings
from tests.catalog.test_imports import _csv, _products, import_csv
from tests.catalog.test_products import _install
from tests.conftest import Org, create_org

HEADER = "Game Type,Binder ID,Card Name,Set Name,Collector Number,Rarity,Variant Title,Price"


def _rows(*rows: str, header: str = HEADER) -> bytes:
    return _csv(*rows, header=header)


def _by_title(client: TestClient, org: Org) -> dict[str, dict[str, Any]]:
    return {p["title"]: p for p in _products(client, org)}


def _variants(product: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [(v["sku"], v["title"], v["price"], v["attributes"]) for v in product["variants"]]


def _export(client: TestClient, org: Org, **params: str) -> list[list[str]]:
    response = client.get("/api/v1/exports/products.csv", headers=org.headers, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))


def test_a_binder_id_column_selects_binderpos_whatever_the_column_order_case_and_spacing(
    client: TestClient, db: Database, settings: Settings
) -> None:
    org = create_org(db, settings)  # without the card types: a BinderPOS file installs them
    header = (" variant title ,Product Name,CARD NAME,game type,Binder Id,set name,"
              "Collector Number,price,In Stock")
    job = import_csv(client, org, db, _rows(
        "Near Mint,Bolt (M10),Lightning Bolt,mtg,101,Magic 2010,146,2.00,4", header=header))
    assert job["format"] == "binderpos"
    assert (job["created"], job["failed"]) == (1, 0), job["errors"]
    assert "Lightning Bolt" in _by_title(client, org)  # Card Name before Product Name

    both = import_csv(client, org, db, _rows(  # a TCGplayer Id column does not make it theirs
        "mtg,102,Counterspell,Alpha,55,Near Mint,1.00,9999",
        header="Game Type,Binder ID,Card Name,Set Name,Collector Number,Variant Title,Price,"
               "TCGplayer Id"))
    assert both["format"] == "binderpos"
    assert [v["sku"] for v in _by_title(client, org)["Counterspell"]["variants"]] == [
        "BINDER-mtg-102-near-mint"]


def test_a_card_in_several_conditions_becomes_one_product_with_a_variant_per_title(
    client: TestClient, org: Org, db: Database
) -> None:
    job = import_csv(client, org, db, _rows(
        "mtg,501,Lightning Bolt,Magic 2010,146,Common,Near Mint,$2.00",
        "mtg,501,Lightning Bolt,Magic 2010,146,Common,Lightly Played Foil,5.50",
        "pokemon,77,Charizard,Base Set,4/102,Holo Rare,"
        "Moderately Played Reverse Holofoil Japanese,300.00",
        "mtg,501,Lightning Bolt,Magic 2010,146,Common,Near Mint Foil,8.00",
    ))
    assert (job["created"], job["failed"], job["products_created"]) == (4, 0, 2), job["errors"]
    products = _by_title(client, org)
    bolt = products["Lightning Bolt"]
    assert bolt["slug"] == "magic-magic-2010-lightning-bolt-146"
    assert bolt["status"] == "active"
    assert bolt["attributes"] == {"game": "magic", "set_name": "Magic 2010",
                                  "collector_number": "146", "rarity": "common"}
    assert _variants(bolt) == [
        ("BINDER-mtg-501-near-mint", "Near Mint", "2.00",
         {"condition": "NM", "finish": "nonfoil", "language": "EN"}),
        ("BINDER-mtg-501-lightly-played-foil", "Lightly Played Foil", "5.50",
         {"condition": "LP", "finish": "foil", "language": "EN"}),
        ("BINDER-mtg-501-near-mint-foil", "Near Mint Foil", "8.00",
         {"condition": "NM", "finish": "foil", "language": "EN"})]
    assert _variants(products["Charizard"]) == [(
        "BINDER-pokemon-77-moderately-played-reverse-holofoil-japanese",
        "Moderately Played Reverse Holofoil Japanese", "300.00",
        {"condition": "MP", "finish": "reverse-holo", "language": "JA"})]
    assert products["Charizard"]["attributes"]["rarity"] == "holo-rare"  # kept as given


def test_bad_rows_are_reported_with_their_line_and_the_good_rows_still_land(
    client: TestClient, org: Org, db: Database
) -> None:
    _install(client, org)
    job = import_csv(client, org, db, _rows(
        "mtg,1,Good Card,Alpha,1,Rare,Near Mint,1.00",
        "mtg,2,Odd Condition,Alpha,2,Rare,Mint-ish,1.00",
        "mtg,3,Bad Price,Alpha,3,Rare,Near Mint,abc",
        "mtg,,No Binder Id,Alpha,4,Rare,Near Mint,1.00",
        ",5,No Game,Alpha,5,Rare,Near Mint,1.00",
        "mtg,6,Also Good,Alpha,6,Rare,Lightly Played,0.50",
    ))
    assert job["status"] == "completed_with_errors"
    assert (job["created"], job["failed"], job["warnings"]) == (3, 3, 1), job["errors"]
    errors = {(e["line"], e["field"]): (e["severity"], e["message"]) for e in job["errors"]}
    severity, message = errors[(3, "Variant Title")]  # a condition is kept, with a warning
    assert severity == "warning"
    assert "Mint-ish" in message
    assert errors[(4, "price")][0] == "error"
    assert errors[(5, "sku")] == ("error", "required")
    assert (6, "attr.game") in errors
    products = _by_title(client, org)
    assert set(products) == {"Good Card", "Odd Condition", "Also Good"}
    assert products["Odd Condition"]["variants"][0]["attributes"]["condition"] == "Mint-ish"


def test_sealed_rows_without_a_condition_become_sealed_products(
    client: TestClient, org: Org, db: Database
) -> None:
    job = import_csv(client, org, db, _rows(
        "mtg,900,Modern Horizons 3 Play Booster Box,Modern Horizons 3,,,Default Title,250.00",
        "pokemon,901,Scarlet & Violet 151 Elite Trainer Box,151,,,,60.00",
        "mtg,902,Dragon Shield Sleeves,,,,Matte Black,12.00",
    ))
    assert (job["created"], job["failed"]) == (3, 0), job["errors"]
    products = _by_title(client, org)
    box = products["Modern Horizons 3 Play Booster Box"]
    etb = products["Scarlet & Violet 151 Elite Trainer Box"]
    sleeves = products["Dragon Shield Sleeves"]
    assert box["attributes"] == {"game": "magic", "set_name": "Modern Horizons 3",
                                 "kind": "booster-box"}
    assert etb["attributes"] == {"game": "pokemon", "set_name": "151", "kind": "bundle"}
    assert sleeves["attributes"] == {"game": "magic", "kind": "other"}
    assert _variants(box) == [("BINDER-mtg-900-default-title", "Default Title", "250.00", {})]
    assert _variants(etb) == [("BINDER-pokemon-901", "", "60.00", {})]
    assert _variants(sleeves) == [("BINDER-mtg-902-matte-black", "Matte Black", "12.00", {})]
    types = {t["id"]: t["slug"] for t in client.get(
        "/api/v1/product-types", headers=org.headers).json()["data"]}
    assert {types[p["product_type_id"]] for p in (box, etb, sleeves)} == {"tcg-sealed"}


def test_importing_a_file_again_updates_the_same_variants_and_changes_nothing_else(
    client: TestClient, org: Org, db: Database
) -> None:
    rows = ["mtg,501,Lightning Bolt,Magic 2010,146,Common,Near Mint,2.00",
            "mtg,501,Lightning Bolt,Magic 2010,146,Common,Lightly Played,1.50",
            "mtg,900,Play Booster Box,Modern Horizons 3,,,Default Title,250.00"]
    first = import_csv(client, org, db, _rows(*rows))
    assert (first["created"], first["failed"]) == (3, 0), first["errors"]
    before = _by_title(client, org)

    again = import_csv(client, org, db, _rows(*rows))
    assert (again["unchanged"], again["created"], again["updated"], again["failed"]) == (
        3, 0, 0, 0)
    assert _by_title(client, org) == before

    # the key is game type + Binder ID + variant title, spelled in any case
    repriced = import_csv(client, org, db, _rows(
        "MTG,501,Lightning Bolt,Magic 2010,146,Common,near mint,2.25"))
    assert (repriced["updated"], repriced["created"]) == (1, 0), repriced["errors"]
    bolt = _by_title(client, org)["Lightning Bolt"]
    assert [(v["sku"], v["price"]) for v in bolt["variants"]] == [
        ("BINDER-mtg-501-near-mint", "2.25"), ("BINDER-mtg-501-lightly-played", "1.50")]


def test_a_sku_column_is_used_as_the_sku_instead_of_the_binder_key(
    client: TestClient, org: Org, db: Database
) -> None:
    job = import_csv(client, org, db, _rows(
        "mtg,501,Lightning Bolt,Magic 2010,146,Common,Near Mint,2.00,BOLT-NM",
        "mtg,501,Lightning Bolt,Magic 2010,146,Common,Lightly Played,1.50,",
        header=HEADER + ",SKU"))
    assert (job["created"], job["failed"]) == (2, 0), job["errors"]
    assert [v["sku"] for v in _by_title(client, org)["Lightning Bolt"]["variants"]] == [
        "BOLT-NM", "BINDER-mtg-501-lightly-played"]


def test_the_binderpos_export_writes_card_variants_in_binderpos_layout(
    client: TestClient, org: Org, db: Database
) -> None:
    import_csv(client, org, db, _rows(
        "mtg,501,Lightning Bolt,Magic 2010,146,Common,Near Mint,2.00",
        "mtg,501,Lightning Bolt,Magic 2010,146,Common,Lightly Played Foil,5.50",
        "mtg,900,Play Booster Box,Modern Horizons 3,,,Default Title,250.00"))
    made = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Sol Ring", "product_type": "tcg-single", "status": "active",
        "attributes": {"game": "magic", "set_name": "Commander 2021",
                       "collector_number": "263", "rarity": "uncommon"},
        "variants": [{"sku": "SOL-1", "price": "3.00", "barcode": "0123456789",
                      "title": "shiny one",
                      "attributes": {"condition": "LP", "finish": "etched",
                                     "language": "JA"}},
                     {"sku": "SOL-2", "price": "2.00", "title": "Near Mint",
                      "attributes": {"condition": "MP", "finish": "foil", "language": "EN"}}]})
    assert made.status_code == 201, made.text
    client.post("/api/v1/product-types", headers=org.headers, json={
        "name": "Gift card", "slug": "gift", "attributes_schema": {"type": "object"}})
    gift = client.post("/api/v1/products", headers=org.headers, json={
        "title": "Gift card", "product_type": "gift", "variants": [
            {"sku": "GIFT-10", "price": "10.00"}]})
    assert gift.status_code == 201, gift.text

    rows = _export(client, org, format="binderpos")
    assert rows[0] == list(BINDERPOS_COLUMNS)
    assert sorted(rows[1:]) == sorted([
        ["mtg", "501", "Lightning Bolt", "Magic 2010", "146", "Common", "Near Mint", "2.00",
         "", "BINDER-mtg-501-near-mint"],
        ["mtg", "501", "Lightning Bolt", "Magic 2010", "146", "Common",
         "Lightly Played Foil", "5.50", "", "BINDER-mtg-501-lightly-played-foil"],
        ["mtg", "900", "Play Booster Box", "Modern Horizons 3", "", "", "Default Title",
         "250.00", "", "BINDER-mtg-900-default-title"],
        # a title that does not say the variant's condition is rebuilt from its attributes
        ["mtg", "", "Sol Ring", "Commander 2021", "263", "Uncommon",
         "Lightly Played Etched Foil Japanese", "3.00", "0123456789", "SOL-1"],
        ["mtg", "", "Sol Ring", "Commander 2021", "263", "Uncommon",
         "Moderately Played Foil", "2.00", "", "SOL-2"],
    ])
    assert _export(client, org)[0][:3] == ["handle", "title", "product_type"]  # default


def test_a_binderpos_export_imports_back_without_a_change(
    client: TestClient, org: Org, db: Database
) -> None:
    job = import_csv(client, org, db, _rows(
        "mtg,501,Lightning Bolt,Magic 2010,146,Common,Near Mint,2.00",
        "mtg,501,Lightning Bolt,Magic 2010,146,Common,Heavily Played Foil,0.75",
        "pokemon,77,Charizard,Base Set,4/102,Holo Rare,"
        "Moderately Played Holofoil Japanese,300.00",
        "pokemon,901,Elite Trainer Box,151,,,,60.00",
        "MTG,902,Sleeves,,,,Matte Black,12.00",
        header=HEADER))
    assert (job["created"], job["failed"]) == (5, 0), job["errors"]
    before = _by_title(client, org)
    exported = client.get("/api/v1/exports/products.csv", headers=org.headers,
                          params={"format": "binderpos"})
    assert exported.status_code == 200
    assert len(list(csv.reader(io.StringIO(exported.text)))) == 6

    dry = import_csv(client, org, db, exported.content, dry_run="true")
    assert dry["format"] == "binderpos"
    assert (dry["unchanged"], dry["created"], dry["updated"], dry["failed"]) == (5, 0, 0, 0), \
        dry["errors"]
    real = import_csv(client, org, db, exported.content)
    assert (real["unchanged"], real["created"], real["updated"], real["failed"]) == (
        5, 0, 0, 0)
    assert _by_title(client, org) == before
    again = client.get("/api/v1/exports/products.csv", headers=org.headers,
                       params={"format": "binderpos"})
    assert again.text == exported.text


def test_a_file_without_the_binderpos_columns_is_refused_with_422_and_no_job(
    client: TestClient, org: Org, db: Database
) -> None:
    cases = [
        (b"Game Type,Binder ID,Card Name,Price\nmtg,1,Bolt,1.00\n", {}, "Variant Title"),
        (b"Binder ID,Variant Title\n1,Near Mint\n", {}, "Game Type, Card Name"),
        (b"sku,price\nA,1.00\n", {"format": "binderpos"}, "Game Type, Binder ID"),
        (b"Game Type,Binder ID,binder_id,Card Name,Variant Title\nmtg,1,1,Bolt,Near Mint\n",
         {}, "Repeated column(s): Binder ID, binder_id."),
    ]
    with db.session(write=False, tenant=org.id) as session:
        jobs = session.scalar(select(func.count()).select_from(ImportJob))
    for content, form, message in cases:
        response = client.post("/api/v1/imports", headers=org.headers, data=form,
                               files={"file": ("binder.csv", content, "text/csv")})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        error = response.json()["errors"][0]
        assert error["field"] == "file"
        assert message in error["message"]
    with db.session(write=False, tenant=org.id) as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == jobs
