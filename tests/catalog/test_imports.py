"""CSV import and export: background jobs, upserts by SKU, row errors, dry runs, TCGplayer."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import multiprocessing
import sqlite3
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from mercato.app import create_app
from mercato.catalog.imports import Importer, claim_job, create_job, run_job
from mercato.catalog.index import reindex_products
from mercato.catalog.models import ImportJob, Product, Variant
from mercato.catalog.tasks import run_imports
from mercato.catalog.validation import validator_for
from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.ids import new_id
from mercato.core.outbox import OutboxEvent
from mercato.settings import Settings
from tests.catalog.test_products import _install
from tests.conftest import Org, create_org

HEADER = ("handle,title,product_type,status,vendor,tags,sku,barcode,price,"
          "attr.game,attr.set_code,attr.collector_number,attr.rarity,"
          "variant.attr.condition,variant.attr.finish,variant.attr.language")


def _csv(*rows: str, header: str = HEADER, bom: bool = False) -> bytes:
    text = "\n".join([header, *rows]) + "\n"
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


def _card_row(handle: str, sku: str, *, title: str = "Card", price: str = "1.00",
              condition: str = "NM", finish: str = "nonfoil", number: str = "1",
              rarity: str = "rare", barcode: str = "") -> str:
    return (f"{handle},{title},tcg-single,active,WotC,staple|red,{sku},{barcode},{price},"
            f"magic,M21,{number},{rarity},{condition},{finish},EN")


def upload(client: TestClient, org: Org, content: bytes, **form: str) -> dict[str, Any]:
    response = client.post("/api/v1/imports", headers=org.headers,
                           files={"file": ("cards.csv", content, "text/csv")}, data=form)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/api/v1/imports/{response.json()['id']}"
    return dict(response.json())


def run_to_end(client: TestClient, org: Org, db: Database, job_id: str) -> dict[str, Any]:
    """What the worker does: its periodic task claims the oldest waiting job and applies it."""
    for _ in range(50):
        if _status(db, job_id) in ("succeeded", "completed_with_errors", "failed"):
            break
        run_imports(db)
    job = client.get(f"/api/v1/imports/{job_id}", headers=org.headers)
    assert job.status_code == 200
    return dict(job.json())


def _status(db: Database, job_id: str) -> str:
    with db.session(write=False, tenant=SYSTEM) as session:
        return str(session.get_one(ImportJob, job_id).status)


def import_csv(client: TestClient, org: Org, db: Database, content: bytes,
               **form: str) -> dict[str, Any]:
    job = upload(client, org, content, **form)
    assert job["status"] == "queued"
    return run_to_end(client, org, db, job["id"])


def _products(client: TestClient, org: Org, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/v1/products", headers=org.headers,
                          params={"sort": "title", "limit": 250, **params})
    return list(response.json()["data"])


def _with_sku(client: TestClient, org: Org, t: str, sku: str) -> list[dict[str, Any]]:
    """The test's products (all carry ``t``) with a variant of exactly this SKU. Searching for
    the SKU itself is not exact: its words are prefixes, so ``X-<t>`` also finds a product
    with a word that begins with ``x`` when ``t`` is random."""
    return [p for p in _products(client, org, q=t) if any(v["sku"] == sku for v in p["variants"])]


def test_import_creates_products_with_a_variant_per_row_and_upserts_by_sku(
    client: TestClient, org: Org, db: Database
) -> None:
    _install(client, org)
    t = new_id()[-8:].lower()
    job = import_csv(client, org, db, _csv(
        _card_row(f"bolt-{t}", f"B-NM-{t}", title="Lightning Bolt"),
        _card_row(f"bolt-{t}", f"B-LP-{t}", title="Lightning Bolt", condition="LP",
                  price="0.80"),
        _card_row(f"elves-{t}", f"E-NM-{t}", title="Llanowar Elves", rarity="common"),
    ), bom=True)
    assert job["status"] == "succeeded", job
    assert (job["rows_total"], job["rows_done"], job["created"], job["failed"]) == (3, 3, 3, 0)
    assert job["products_created"] == 2
    bolt = _products(client, org, q=f"B-NM-{t}")[0]
    assert bolt["slug"] == f"bolt-{t}"
    assert bolt["status"] == "active"
    assert bolt["tags"] == ["red", "staple"]
    assert [(v["sku"], v["price"], v["attributes"]["condition"]) for v in bolt["variants"]] == [
        (f"B-NM-{t}", "1.00", "NM"), (f"B-LP-{t}", "0.80", "LP")]
    assert bolt["attributes"]["collector_number"] == "1"  # declared a string: stays text

    # again, with one price changed and one new printing: upsert by SKU
    again = import_csv(client, org, db, _csv(
        _card_row(f"bolt-{t}", f"B-NM-{t}", title="Lightning Bolt", price="1.25"),
        _card_row(f"bolt-{t}", f"B-LP-{t}", title="Lightning Bolt", condition="LP",
                  price="0.80"),
        _card_row(f"bolt-{t}", f"B-NMF-{t}", title="Lightning Bolt", finish="foil",
                  price="3.00"),
    ))
    assert (again["created"], again["updated"], again["unchanged"]) == (1, 1, 1)
    assert again["products_created"] == 0
    bolt = _products(client, org, q=f"B-NM-{t}")[0]
    assert [(v["sku"], v["price"]) for v in bolt["variants"]] == [
        (f"B-NM-{t}", "1.25"), (f"B-LP-{t}", "0.80"), (f"B-NMF-{t}", "3.00")]
    assert _products(client, org, q=f"B-NMF-{t}", **{"attr.finish": "foil"})[0]["id"] \
        == bolt["id"]
    with db.session(write=False, tenant=org.id) as session:
        updated = session.scalars(select(OutboxEvent).where(
            OutboxEvent.type == "variant.updated",
            OutboxEvent.data["sku"].as_string() == f"B-NM-{t}")).all()
        assert [e.data["changes"] for e in updated] == [
            {"price": {"from": "1.00", "to": "1.25"}}]


def test_new_products_are_written_with_their_price_range_and_not_updated_for_it(
    client: TestClient, org: Org, db: Database
) -> None:
    """An imported product is inserted with the lowest and highest price of its variants, as
    the reindex before commit derives them, so that commit has no UPDATE of it to make."""
    _install(client, org)
    t = new_id()[-8:].lower()
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()).upper())

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        job = import_csv(client, org, db, _csv(
            _card_row(f"ring-{t}", f"R-NM-{t}", price="12.50"),
            _card_row(f"ring-{t}", f"R-LP-{t}", condition="LP", price="9.05"),
            _card_row(f"ring-{t}", f"R-MP-{t}", condition="MP", price="10"),
            _card_row(f"orb-{t}", f"O-NM-{t}", price="0.25")))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert job["status"] == "succeeded", job
    assert [s for s in statements if s.startswith("UPDATE PRODUCTS")] == []
    with db.transaction(tenant=org.id) as session:
        products = {p.slug: p for p in session.scalars(select(Product).where(
            Product.slug.in_([f"ring-{t}", f"orb-{t}"])))}
        assert {slug: (p.min_price, p.max_price) for slug, p in products.items()} == {
            f"ring-{t}": (Decimal("9.05"), Decimal("12.50")),
            f"orb-{t}": (Decimal("0.25"), Decimal("0.25"))}
        for product in products.values():  # what a reindex from the database derives
            product.min_price = product.max_price = None
        session.flush()
        reindex_products(session, [p.id for p in products.values()])
        session.expire_all()
        assert {p.slug: (p.min_price, p.max_price) for p in session.scalars(
            select(Product).where(Product.slug.in_([f"ring-{t}", f"orb-{t}"])))} == {
            f"ring-{t}": (Decimal("9.05"), Decimal("12.50")),
            f"orb-{t}": (Decimal("0.25"), Decimal("0.25"))}


def test_bad_rows_fail_alone_with_line_numbers_and_never_half_write_a_product(
    client: TestClient, org: Org, db: Database
) -> None:
    _install(client, org)
    t = new_id()[-8:].lower()
    job = import_csv(client, org, db, _csv(
        _card_row(f"good-{t}", f"G1-{t}", title="Good"),
        _card_row(f"half-{t}", f"H1-{t}", title="Half"),
        _card_row(f"half-{t}", f"H2-{t}", title="Half", finish="MINT"),
        _card_row(f"price-{t}", f"P1-{t}", title="Price", price="1.999"),
        _card_row(f"float-{t}", f"F1-{t}", title="Dup", price="abc"),
        _card_row(f"dup-{t}", f"G1-{t}", title="Dup"),
        f'"quoted-{t}","Multi\nLine",tcg-single,active,,,Q1-{t},,2.00,magic,M21,7,rare,'
        'NM,nonfoil,EN',
    ))
    assert job["status"] == "completed_with_errors"
    assert job["message"] == (f"5 of 7 rows were not imported; their errors say why "
                              f"(GET /api/v1/imports/{job['id']}/errors)")
    assert (job["created"], job["failed"]) == (2, 5)
    errors = {(e["line"], e["field"]): e["message"] for e in job["errors"]}
    assert "MINT" in errors[(4, "variant.attr.finish")]
    assert errors[(3, "")] == "not imported: line 4 of the same product failed"
    assert (5, "price") in errors
    assert (6, "price") in errors
    assert "repeated; first at line 2" in errors[(7, "sku")]
    assert {p["title"] for p in _products(client, org, q=t)} == {"Good", "Multi\nLine"}
    assert _with_sku(client, org, t, f"H1-{t}") == []  # not the product without its bad row
    paged = client.get(f"/api/v1/imports/{job['id']}/errors", headers=org.headers,
                       params={"limit": 2})
    assert len(paged.json()["data"]) == 2
    assert paged.json()["next_cursor"]


def test_a_file_that_cannot_be_read_is_refused_whole_and_creates_no_job(
    client: TestClient, org: Org, db: Database
) -> None:
    cases = [b"", b"title,price\nx,1\n", _csv(header=HEADER + ",colour"),
             "sku,price\n\xe9,1\n".encode("latin-1")]
    with db.session(write=False, tenant=org.id) as session:
        before = session.scalar(select(func.count()).select_from(ImportJob))
    for content in cases:
        response = client.post("/api/v1/imports", headers=org.headers,
                               files={"file": ("x.csv", content, "text/csv")})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == "file"
    with db.session(write=False, tenant=org.id) as session:
        assert session.scalar(select(func.count()).select_from(ImportJob)) == before


def test_dry_run_reports_what_would_change_and_writes_nothing(
    client: TestClient, org: Org, db: Database
) -> None:
    _install(client, org)
    t = new_id()[-8:].lower()
    import_csv(client, org, db, _csv(_card_row(f"d-{t}", f"D1-{t}", title="Dry")))
    with db.session(write=False, tenant=org.id) as session:
        events = session.scalar(select(func.count()).select_from(OutboxEvent))
    job = import_csv(client, org, db, _csv(
        _card_row(f"d-{t}", f"D1-{t}", title="Dry", price="9.00"),
        _card_row(f"d-{t}", f"D2-{t}", title="Dry", condition="LP"),
        _card_row(f"e-{t}", f"E1-{t}", title="Else", finish="nope"),
    ), dry_run="true")
    assert job["dry_run"]
    assert job["status"] == "completed_with_errors"
    assert (job["created"], job["updated"], job["failed"]) == (1, 1, 1)
    assert job["message"].startswith("dry run: nothing was written; 1 of 3 rows would not be "
                                     "imported")
    [product] = _with_sku(client, org, t, f"D1-{t}")
    assert [(v["sku"], v["price"]) for v in product["variants"]] == [(f"D1-{t}", "1.00")]
    with db.session(write=False, tenant=org.id) as session:
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == events


def test_export_then_import_changes_nothing_and_reproduces_the_catalog(
    client: TestClient, org: Org, other_org: Org, db: Database
) -> None:
    for who in (org, other_org):
        _install(client, who)
        client.post("/api/v1/product-types", headers=who.headers, json={
            "name": "Digital", "slug": "digital", "attributes_schema": {"type": "object"}})
        client.post("/api/v1/categories", headers=who.headers,
                    json={"name": "Singles", "slug": "singles"})
        client.post("/api/v1/collections", headers=who.headers,
                    json={"name": "Staples", "slug": "staples"})
    t = new_id()[-8:].lower()
    bodies = [
        {"title": "Sol Ring, \"the\" classic", "product_type": "tcg-single", "slug": f"sol-{t}",
         "category": "singles", "collections": ["staples"], "tags": ["vintage", "artifact"],
         "vendor": "WotC", "description": "Line one\nline two", "status": "active",
         "media": [{"url": "https://img.test/sol.jpg", "alt": "front", "position": 2}],
         "attributes": {"game": "magic", "set_code": "C21", "collector_number": "263",
                        "rarity": "uncommon", "artist": "Mark Tedin", "reserved": False,
                        "year": 1993, "code": "007", "colors": ["colorless"]},
         "variants": [{"sku": f"SOL-NM-{t}", "price": "2.50", "cost": "0.40",
                       "compare_at_price": "3.00", "barcode": f"bc-{t}", "weight_grams": 2,
                       "attributes": {"condition": "NM", "finish": "nonfoil",
                                      "language": "EN"}},
                      {"sku": f"SOL-LP-{t}", "price": "2.00", "title": "Lightly played",
                       "attributes": {"condition": "LP", "finish": "etched",
                                      "language": "JA"}}]},
        {"title": "=HYPERLINK(\"http://evil.test\",\"Ebook\")", "product_type": "digital",
         "slug": f"ebook-{t}", "vendor": "@vendor", "tags": ["+1", "'-x"],
         "attributes": {"pages": 120, "drm": True, "note": "true", "offset": -3},
         "variants": [{"sku": f"EB-{t}", "price": "5.00", "currency": "EUR",
                       "attributes": {"format": "epub", "size": "1.5"}}]},
    ]
    for body in bodies:
        created = client.post("/api/v1/products", headers=org.headers, json=body)
        assert created.status_code == 201, created.text

    exported = client.get("/api/v1/exports/products.csv", headers=org.headers,
                          params={"q": t})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["sku"] for r in rows] == [f"SOL-NM-{t}", f"SOL-LP-{t}", f"EB-{t}"]
    assert rows[0]["attr.year"] == "1993"
    assert rows[0]["attr.code"] == "007"
    assert rows[2]["attr.note"] == '"true"'  # text that reads as JSON is quoted
    assert (rows[2]["title"], rows[2]["vendor"], rows[2]["attr.offset"]) == (
        "'=HYPERLINK(\"http://evil.test\",\"Ebook\")", "'@vendor", "'-3")  # not formulas
    assert rows[2]["tags"].startswith("'")

    before = {p["id"]: p for p in _products(client, org, q=t)}
    same = import_csv(client, org, db, exported.content)
    assert (same["unchanged"], same["created"], same["updated"], same["failed"]) == (3, 0, 0, 0)
    assert {p["id"]: p for p in _products(client, org, q=t)} == before

    into_other = import_csv(client, other_org, db, exported.content)
    assert (into_other["created"], into_other["failed"]) == (3, 0), into_other["errors"]
    again = client.get("/api/v1/exports/products.csv", headers=other_org.headers,
                       params={"q": t})
    assert again.text == exported.text

    def comparable(product: dict[str, Any]) -> dict[str, Any]:
        drop = {"id", "product_id", "product_type_id", "category_id", "created_at",
                "updated_at"}
        return {k: ([{vk: vv for vk, vv in v.items() if vk not in drop} for v in value]
                    if k == "variants" else value)
                for k, value in product.items() if k not in drop}

    assert sorted((comparable(p) for p in _products(client, other_org, q=t)),
                  key=lambda p: p["slug"]) == sorted((comparable(p) for p in before.values()),
                                                     key=lambda p: p["slug"])


def test_tcgplayer_inventory_layout_imports_cards_as_products_with_condition_variants(
    client: TestClient, db: Database, settings: Settings
) -> None:
    org = create_org(db, settings)  # without the card types: the file installs them
    t = new_id()[-6:]
    header = ("TCGplayer Id,Product Line,Set Name,Product Name,Title,Number,Rarity,Condition,"
              "TCG Market Price,TCG Direct Low,TCG Low Price With Shipping,TCG Low Price,"
              "Total Quantity,Add to Quantity,TCG Marketplace Price,Photo URL")
    rows = [
        f"1{t},Magic: The Gathering,Alpha {t},Black Lotus,,232,Rare,Near Mint,"
        "30000.00,,,,,,29999.99,https://tcgplayer-cdn.test/1.jpg",
        f"2{t},Magic: The Gathering,Alpha {t},Black Lotus,,232,Rare,Lightly Played Foil,"
        "25000.00,,,,,,,",
        f"3{t},Pokemon,Base Set {t},Charizard,,4/102,Holo Rare,"
        "Moderately Played Holofoil Japanese,400.00,,,,,,380.00,",
        f"4{t},Pokemon,Base Set {t},Booster Box,,,,Unopened,9000.00,,,,,,8500.00,",
        f"5{t},Pokemon,Base Set {t},Pikachu,,58/102,Common,Near Mint,,,,,,,,",
    ]
    dry = import_csv(client, org, db, _csv(*rows, header=header), dry_run="true")
    assert (dry["created"], dry["failed"], dry["products_created"]) == (4, 1, 3), dry["errors"]
    assert client.get("/api/v1/product-types", headers=org.headers).json()["data"] == []
    job = import_csv(client, org, db, _csv(*rows, header=header))
    assert job["format"] == "tcgplayer"
    assert (job["created"], job["failed"], job["products_created"]) == (4, 1, 3), job["errors"]
    assert job["errors"][0]["line"] == 6
    assert job["errors"][0]["field"] == "price"

    lotus = _products(client, org, q=f"black lotus alpha {t}")[0]
    assert lotus["status"] == "active"
    assert lotus["attributes"] == {"game": "magic", "set_name": f"Alpha {t}",
                                   "collector_number": "232", "rarity": "rare"}
    assert lotus["media"][0]["url"] == "https://tcgplayer-cdn.test/1.jpg"
    assert [(v["sku"], v["price"], v["attributes"]) for v in lotus["variants"]] == [
        (f"TCG-1{t}", "29999.99", {"condition": "NM", "finish": "nonfoil", "language": "EN"}),
        (f"TCG-2{t}", "25000.00", {"condition": "LP", "finish": "foil", "language": "EN"})]
    charizard = _products(client, org, q=f"charizard {t}")[0]
    assert charizard["variants"][0]["attributes"] == {
        "condition": "MP", "finish": "holo", "language": "JA"}
    box = _products(client, org, q=f"booster {t}")[0]
    assert box["product_type_id"] != lotus["product_type_id"]


def test_a_job_resumes_after_a_crash_without_applying_any_batch_twice(
    client: TestClient, org: Org, db: Database, monkeypatch: Any
) -> None:
    """The runner dies after two batches; the next runner finishes the rest, once."""
    import mercato.catalog.imports as imports

    _install(client, org)
    t = new_id()[-8:].lower()
    monkeypatch.setattr(imports, "BATCH_ROWS", 3)
    content = _csv(*(_card_row(f"r{i}-{t}", f"R{i}-{t}", title=f"Resume {i}")
                     for i in range(10)))
    with db.transaction(tenant=org.id) as session:
        job_id = create_job(session, content=content, filename="r.csv", fmt=None,
                            dry_run=False, created_by=None, claim=True).id

    def crash_after_two(done: int, total: int) -> None:
        if done >= 6:
            raise KeyboardInterrupt

    with contextlib.suppress(KeyboardInterrupt):
        run_job(db, job_id, progress=crash_after_two)
    assert _status(db, job_id) == "running"
    assert len(_products(client, org, q=t)) == 6
    assert claim_job(db) is None  # its lease still runs
    with db.transaction(tenant=SYSTEM) as session:  # ... until it lapses
        session.get_one(ImportJob, job_id).lease_until = utcnow() - dt.timedelta(seconds=1)
    assert claim_job(db) == job_id
    run_job(db, job_id)
    job = client.get(f"/api/v1/imports/{job_id}", headers=org.headers).json()
    assert (job["status"], job["rows_done"], job["created"]) == ("succeeded", 10, 10)
    assert len(_products(client, org, q=t)) == 10


def _run_in_process(url: str, job_id: str) -> None:
    database = Database(url)
    run_job(database, job_id)
    database.dispose()


def test_two_runners_on_one_job_apply_each_row_once(
    client: TestClient, org: Org, db: Database, database_url: str, monkeypatch: Any
) -> None:
    import mercato.catalog.imports as imports

    _install(client, org)
    monkeypatch.setattr(imports, "BATCH_ROWS", 5)
    t = new_id()[-8:].lower()
    content = _csv(*(_card_row(f"p{i}-{t}", f"P{i}-{t}", title=f"Parallel {i}")
                     for i in range(60)))
    with db.transaction(tenant=org.id) as session:
        job_id = create_job(session, content=content, filename="p.csv", fmt=None,
                            dry_run=False, created_by=None, claim=True).id
    context = multiprocessing.get_context("spawn")
    runners = [context.Process(target=_run_in_process, args=(database_url, job_id))
               for _ in range(3)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(120)
    if _status(db, job_id) == "running":  # every runner but one stopped as superseded
        run_job(db, job_id)
    with db.session(write=False, tenant=org.id) as session:
        job = session.get_one(ImportJob, job_id)
        assert (job.status, job.rows_done, job.created, job.failed) == ("succeeded", 60, 60, 0)
        assert session.scalar(select(func.count()).select_from(Variant)
                              .where(Variant.sku.like(f"P%-{t}"))) == 60
        assert session.scalar(select(func.count()).select_from(Product)
                              .where(Product.slug.like(f"p%-{t}"))) == 60
        created = session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.type == "product.created",
            OutboxEvent.data["title"].as_string().like("Parallel %")))
        assert created == 60


def test_remembered_attribute_checks_tell_true_from_one() -> None:
    """An import validates each distinct set of attributes once. ``1 == True`` in Python, but
    they are different JSON values, so the answer remembered for one is never given for the
    other; values that cannot be a key (lists) are checked too."""
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    spec = {"id": "t", "attributes": schema, "validators": {"attributes": validator_for(schema)}}
    importer = Importer("org")
    assert importer._attribute_problems(spec, "attributes", {"n": 1}) == []
    assert importer._attribute_problems(spec, "attributes", {"n": True}) != []
    assert importer._attribute_problems(spec, "attributes", {"n": [1]}) != []
    assert importer._attribute_problems(spec, "attributes", {"n": 1}) == []


def _variants_by_product(client: TestClient, org: Org, t: str) -> dict[str, list[str]]:
    return {p["slug"]: [v["sku"] for v in p["variants"]] for p in _products(client, org, q=t)}


def test_a_products_rows_spread_over_batches_reach_it_in_file_order(
    client: TestClient, org: Org, db: Database, monkeypatch: Any
) -> None:
    """Rows of one product that are not next to each other land in different batches; each
    finds what the batches before it wrote, whether or not those have committed yet when it
    starts (PostgreSQL has two under way): a later batch that shares a handle, SKU or product
    with the one before it plans again once that one has committed."""
    import mercato.catalog.imports as imports

    _install(client, org)
    t = new_id()[-8:].lower()
    import_csv(client, org, db, _csv(_card_row(f"p-{t}", f"X-{t}", title="Before"),
                                     _card_row(f"p-{t}", f"Y-{t}", title="Before")))
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    job = import_csv(client, org, db, _csv(
        _card_row(f"a-{t}", f"A1-{t}", title="Alpha"),
        _card_row(f"b-{t}", f"B1-{t}", title="Beta"),
        _card_row(f"a-{t}", f"A2-{t}", title="Alpha", condition="LP"),
        _card_row(f"p-{t}", f"X-{t}", title="Renamed"),
        _card_row(f"a-{t}", f"A3-{t}", title="Alpha", condition="MP"),
        _card_row("", f"Y-{t}", title="Renamed", price="7.00"),  # product p, found by SKU
        _card_row(f"d-{t}", f"A1-{t}", title="Delta"),
        _card_row(f"c-{t}", f"C1-{t}", title="Gamma"),
    ))
    assert job["status"] == "completed_with_errors", job
    assert (job["created"], job["updated"], job["unchanged"], job["failed"]) == (5, 1, 1, 1)
    assert [(e["line"], e["field"]) for e in job["errors"]] == [(8, "sku")]
    assert "repeated; first at line 2" in job["errors"][0]["message"]
    assert _variants_by_product(client, org, t) == {
        f"a-{t}": [f"A1-{t}", f"A2-{t}", f"A3-{t}"], f"b-{t}": [f"B1-{t}"],
        f"c-{t}": [f"C1-{t}"], f"p-{t}": [f"X-{t}", f"Y-{t}"]}
    [renamed] = _with_sku(client, org, t, f"X-{t}")
    assert renamed["title"] == "Renamed"
    assert [v["price"] for v in renamed["variants"]] == ["1.00", "7.00"]


def test_a_batch_rolled_back_for_the_one_before_it_is_applied_again_once(
    client: TestClient, org: Org, db: Database, monkeypatch: Any
) -> None:
    """When the oldest batch does not end in time, the batch behind it (which might hold
    what the oldest waits for) is rolled back and applied again on its own: every row, event
    and product exactly once. With no time at all, that happens to every batch."""
    import mercato.catalog.imports as imports

    _install(client, org)
    t = new_id()[-8:].lower()
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    monkeypatch.setattr(imports, "WAIT_SECONDS", 0.0)
    job = import_csv(client, org, db, _csv(*(
        _card_row(f"w{i // 2}-{t}", f"W{i}-{t}", title=f"Waited {i // 2}",
                  condition=("NM", "LP")[i % 2]) for i in range(20))))
    assert (job["status"], job["rows_done"], job["created"], job["failed"]) == (
        "succeeded", 20, 20, 0)
    assert job["products_created"] == 10
    assert len(_products(client, org, q=t)) == 10
    with db.session(write=False, tenant=org.id) as session:
        created = session.scalars(select(OutboxEvent.resource_id).where(
            OutboxEvent.type == "variant.created",
            OutboxEvent.data["sku"].as_string().like(f"W%-{t}"))).all()
        assert len(created) == len(set(created)) == 20


def test_a_failing_batch_stops_the_job_and_the_batch_behind_it_commits_nothing(
    client: TestClient, org: Org, db: Database, monkeypatch: Any
) -> None:
    import mercato.catalog.imports as imports

    _install(client, org)
    t = new_id()[-8:].lower()
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    write = Importer.write

    def failing(self: Importer, session: Any, planned: Any, **kw: Any) -> Any:
        if any(row.cells["sku"].startswith("BOOM") for row in planned.rows):
            raise RuntimeError("the database went away")
        return write(self, session, planned, **kw)

    monkeypatch.setattr(Importer, "write", failing)
    job = import_csv(client, org, db, _csv(
        *(_card_row(f"s{i}-{t}", f"S{i}-{t}", title=f"Stop {i}") for i in range(2)),
        *(_card_row(f"s{i}-{t}", f"BOOM{i}-{t}", title=f"Stop {i}") for i in range(2, 4)),
        *(_card_row(f"s{i}-{t}", f"S{i}-{t}", title=f"Stop {i}") for i in range(4, 8))))
    assert (job["status"], job["rows_done"], job["created"]) == ("failed", 2, 2)
    assert job["message"] == "stopped at row 3: the database went away"
    assert sorted(p["title"] for p in _products(client, org, q=t)) == ["Stop 0", "Stop 1"]


TCG_HEADER = ("TCGplayer Id,Product Line,Set Name,Product Name,Title,Number,Rarity,Condition,"
              "TCG Market Price,TCG Direct Low,TCG Low Price With Shipping,TCG Low Price,"
              "Total Quantity,Add to Quantity,TCG Marketplace Price,Photo URL")


def test_a_tcgplayer_file_over_many_batches_fails_only_its_malformed_rows(
    client: TestClient, db: Database, settings: Settings, monkeypatch: Any
) -> None:
    """A new organization imports a TCGplayer file many batches long (on PostgreSQL, two
    under way at once): its card types are installed before any batch plans, so no batch
    refers to a type an uncommitted batch installed; only the malformed lines fail, each
    for its own reason, and the job says it skipped them."""
    import mercato.catalog.imports as imports

    org = create_org(db, settings)  # no product types yet: the file brings them
    t = new_id()[-6:]
    monkeypatch.setattr(imports, "BATCH_ROWS", 12)
    rows = [f"{i}{t},Magic: The Gathering,Set {t},Card {i // 2},,{i // 2},Rare,"
            f"{('Near Mint', 'Lightly Played Foil')[i % 2]},{1 + i % 9}.00,,,,,,,"
            for i in range(120)]  # a card per two lines: its two conditions
    rows[90] = f"90{t},Magic: The Gathering,Set {t},Booster Box,,,,Unopened,90.00,,,,,,,"
    rows[91] = f"91{t},Magic: The Gathering,Set {t},Booster Box,,,,Unopened,90.00,,,,,,,"
    rows[47] = f"47{t},Magic: The Gathering,Set {t},Odd {t},,1,Rare,Near Mint,abc,,,,,,,"
    rows[103] = f"103{t},Magic: The Gathering,Set {t},Short {t},,51,Rare"  # cut short
    job = import_csv(client, org, db, _csv(*rows, header=TCG_HEADER))
    assert job["status"] == "completed_with_errors", job
    assert (job["rows_done"], job["failed"]) == (120, 2), job["errors"]
    failed = sorted({e["line"] for e in job["errors"]})
    assert failed == [49, 105], job["errors"]
    assert all("meanwhile" not in e["message"] for e in job["errors"])
    assert job["created"] == 118
    types = {p["product_type_id"] for p in walk_products(client, org, t)}
    assert len(types) == 2  # singles and sealed, each installed once


def walk_products(client: TestClient, org: Org, q: str) -> list[dict[str, Any]]:
    from tests.conftest import walk_pages

    return walk_pages(client, "/api/v1/products", org.headers, limit=250, q=q)


def test_later_batches_find_what_earlier_batches_made_and_freed(
    client: TestClient, org: Org, db: Database, monkeypatch: Any
) -> None:
    """Batches of two rows, two under way at once on PostgreSQL: a later batch finds the
    products earlier batches created (by handle), the categories and collections it names,
    and a handle or barcode an earlier batch moved away from is free for it, exactly as
    when the file is applied one batch at a time."""
    import mercato.catalog.imports as imports

    _install(client, org)
    t = new_id()[-8:].lower()
    for path, slug in (("/api/v1/categories", f"singles-{t}"),
                       ("/api/v1/collections", f"staples-{t}")):
        made = client.post(path, headers=org.headers, json={"name": slug, "slug": slug})
        assert made.status_code == 201, made.text
    import_csv(client, org, db, _csv(
        _card_row(f"old-{t}", f"K1-{t}", title="Kept", barcode=f"900{t}")))
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    header = HEADER + ",category,collections"
    extra = f",singles-{t},staples-{t}"
    job = import_csv(client, org, db, _csv(
        _card_row(f"new-{t}", f"K1-{t}", title="Kept", barcode=f"901{t}") + extra,
        _card_row(f"a-{t}", f"A1-{t}", title="Alpha") + extra,
        _card_row(f"old-{t}", f"O1-{t}", title="Other", barcode=f"900{t}") + extra,
        _card_row(f"b-{t}", f"B1-{t}", title="Beta") + extra,
        _card_row(f"a-{t}", f"A2-{t}", title="Alpha", condition="LP") + extra,
        _card_row(f"a-{t}", f"A3-{t}", title="Alpha", condition="MP") + extra,
        header=header))
    assert job["status"] == "succeeded", job
    assert (job["created"], job["updated"], job["failed"]) == (5, 1, 0), job["errors"]
    found = {p["slug"]: p for p in _products(client, org, q=t)}
    assert sorted(found) == [f"a-{t}", f"b-{t}", f"new-{t}", f"old-{t}"]
    assert [v["sku"] for v in found[f"a-{t}"]["variants"]] == [f"A1-{t}", f"A2-{t}", f"A3-{t}"]
    assert [v["sku"] for v in found[f"new-{t}"]["variants"]] == [f"K1-{t}"]
    assert [(v["sku"], v["barcode"]) for v in found[f"old-{t}"]["variants"]] == [
        (f"O1-{t}", f"900{t}")]
    assert all(p["collections"] == [f"staples-{t}"] for p in found.values())
    assert len({p["category_id"] for p in found.values()}) == 1


def test_a_batch_planned_beside_an_uncommitted_one_never_fails_rows_for_it(
    client: TestClient, org: Org, db: Database, monkeypatch: Any
) -> None:
    """The last wall: even a batch whose keys were not seen to meet the batch before it (the
    key check switched off here) gives the result of one batch at a time. A conflict it meets
    is not blamed on its rows; it is applied again after the batch before it commits, and a
    real conflict then names the constraint that refused it."""
    import mercato.catalog.imports as imports

    _install(client, org)
    t = new_id()[-8:].lower()
    monkeypatch.setattr(imports, "BATCH_ROWS", 2)
    monkeypatch.setattr(imports.Planned, "keys", lambda self: frozenset())
    job = import_csv(client, org, db, _csv(
        _card_row(f"x-{t}", f"X1-{t}", title="First", barcode=f"77{t}"),
        _card_row(f"y-{t}", f"Y1-{t}", title="Second"),
        _card_row(f"z-{t}", f"Z1-{t}", title="Third", barcode=f"77{t}"),
        _card_row(f"w-{t}", f"W1-{t}", title="Fourth")))
    assert job["status"] == "completed_with_errors", job
    assert (job["created"], job["failed"]) == (3, 1), job["errors"]
    assert [(e["line"], e["field"], e["message"]) for e in job["errors"]] == [
        (4, "barcode", f"barcode '77{t}' is already used")]


def test_a_conflict_is_named_by_the_constraint_that_refused_it(
    client: TestClient, org: Org, db: Database
) -> None:
    """Rows checked against what was committed can still meet a writer that came after: the
    row's error names what was taken or deleted (from the refused constraint), on both
    databases, never a catch-all."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from mercato.catalog.imports import conflict_cause
    from mercato.catalog.index import products_t, variants_t

    _install(client, org)
    t = new_id()[-8:].lower()
    import_csv(client, org, db, _csv(_card_row(f"c-{t}", f"C1-{t}", barcode=f"55{t}")))
    product = _products(client, org, q=t)[0]
    now = utcnow()
    variant = {"organization_id": org.id, "product_id": product["id"], "title": "",
               "price": 1, "currency": "USD", "attributes": {}, "position": 9,
               "available": 0, "version": 1, "created_at": now, "updated_at": now}
    new_product = {"organization_id": org.id, "title": "x", "status": "draft",
                   "product_type_id": product["product_type_id"], "description": "",
                   "tags": [], "media": [], "attributes": {}, "version": 1,
                   "created_at": now, "updated_at": now}
    cases = {
        "sku": insert(variants_t).values(id=new_id(), sku=f"C1-{t}", **variant),
        "barcode": insert(variants_t).values(id=new_id(), sku=f"C2-{t}", barcode=f"55{t}",
                                             **variant),
        "handle": insert(products_t).values(id=new_id(), slug=f"c-{t}", **new_product),
        "type": insert(products_t).values(id=new_id(), slug=f"d-{t}", **{
            **new_product, "product_type_id": new_id()}),
    }
    causes = {}
    for name, statement in cases.items():
        try:
            with db.transaction(tenant=org.id) as session:
                session.execute(statement)
        except IntegrityError as exc:
            causes[name] = conflict_cause(exc)
    assert causes["sku"] == ("sku", "the SKU was taken by another product while this import "
                                    "ran")
    assert causes["barcode"][0] == "barcode"
    assert causes["handle"][0] == "handle"
    assert "deleted while this import ran" in causes["type"][1]
    assert all("meanwhile" not in message for _, message in causes.values())


# -- bounds on what an upload may hold, and reading it without holding the database ----------

class _Compared(str):
    """A column name that counts how often it is compared for equality."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        _Compared.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def _job_count(db: Database, org: Org) -> int:
    with db.session(write=False, tenant=org.id) as session:
        return int(session.scalar(select(func.count()).select_from(ImportJob)) or 0)


def test_a_40000_column_header_is_refused_with_422_and_nothing_is_written(
    client: TestClient, org: Org, db: Database
) -> None:
    header = ",".join(["sku", *(f"attr.a{i}" for i in range(40_000))])
    response = client.post("/api/v1/imports", headers=org.headers,
                           files={"file": ("wide.csv", f"{header}\nX-1\n".encode(),
                                           "text/csv")})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "file"
    assert "40001 columns; at most 200" in response.json()["detail"]
    assert _job_count(db, org) == 0


def test_rows_with_more_cells_than_allowed_or_longer_than_allowed_are_refused(
    client: TestClient, org: Org, db: Database
) -> None:
    for row, words in ((",".join(["A-1", *("x" * 300)]), "301 cells; at most 200"),
                       ("B-1," + ",".join(["y" * 100_000] * 11), "longer than 1000000 characters")):
        response = client.post("/api/v1/imports", headers=org.headers,
                               files={"file": ("bad.csv", f"sku,title\n{row}\n".encode(),
                                               "text/csv")})
        assert response.status_code == 422, response.text
        assert words in response.json()["detail"]
    assert _job_count(db, org) == 0


def test_the_repeated_column_check_compares_each_name_a_bounded_number_of_times(
    monkeypatch: Any,
) -> None:
    """Linear, not quadratic: ``header.count(name)`` for each of n names compares n² times
    (4,000,000 here); a count in one pass compares each name a few times at most."""
    from mercato.catalog import csvio

    names = 2000
    header = [_Compared("sku"), *(_Compared(f"attr.a{i}") for i in range(names - 2)),
              _Compared("attr.a0")]
    _Compared.comparisons = 0
    with pytest.raises(csvio.CsvFormatError, match=r"Repeated column\(s\): attr\.a0\."):
        csvio.check_header(header, "mercato", csvio.CsvLimits(max_columns=names))
    assert _Compared.comparisons < 40 * names

    squash = csvio._squash  # BinderPOS headers are compared squashed
    monkeypatch.setattr(csvio, "_squash", lambda name: _Compared(squash(name)))
    binder = ["Game Type", "Binder ID", "Card Name", "Variant Title",
              *(f"Extra {i}" for i in range(names - 5)), "binder id"]
    _Compared.comparisons = 0
    with pytest.raises(csvio.CsvFormatError,
                       match=r"Repeated column\(s\): Binder ID, binder id\."):
        csvio.binderpos_columns(binder)
    assert _Compared.comparisons < 40 * names


def _writers_elsewhere(db: Database) -> bool:
    """Whether a transaction other than the caller's holds the database: on SQLite the write
    lock (a new connection cannot take it), on PostgreSQL any open transaction."""
    if db.dialect == "sqlite":
        conn = sqlite3.connect(db.engine.url.database or "", timeout=0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            conn.close()
    with db.engine.connect() as conn:
        return bool(conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL").scalar())


@pytest.mark.parametrize("credential", ["staff token", "API key"])
def test_an_upload_is_read_and_checked_while_no_transaction_holds_the_database(
    client: TestClient, org: Org, db: Database, monkeypatch: Any, credential: str
) -> None:
    """On SQLite a write transaction holds the one write lock; reading a file inside it made
    every other write wait. Each check of the file looks whether anyone holds the database."""
    from mercato.catalog import csvio

    headers = org.headers
    if credential == "API key":
        made = client.post("/api/v1/api-keys", headers=org.headers,
                           json={"name": "importer", "scopes": ["catalog:write"]})
        assert made.status_code == 201, made.text
        headers = {"Authorization": f"Bearer {made.json()['key']}"}
    held: list[bool] = []
    scan = csvio.scan

    def watched(*args: Any, **kwargs: Any) -> csvio.Header:
        held.append(_writers_elsewhere(db))
        return scan(*args, **kwargs)

    monkeypatch.setattr(csvio, "scan", watched)
    _install(client, org)
    t = new_id()[-8:].lower()
    good = client.post("/api/v1/imports", headers=headers,
                       files={"file": ("ok.csv", _csv(_card_row(f"l-{t}", f"L-{t}")),
                                       "text/csv")})
    assert good.status_code == 202, good.text
    bad = client.post("/api/v1/imports", headers=headers,
                      files={"file": ("bad.csv", b"sku,sku\nA,B\n", "text/csv")})
    assert bad.status_code == 422, bad.text
    assert held == [False, False]


def test_an_upload_larger_than_the_setting_is_refused_with_413(
    org: Org, db: Database, settings: Settings
) -> None:
    small = create_app(settings.model_copy(update={"max_upload_bytes": 4096}), db)
    with TestClient(small, raise_server_exceptions=False) as client:
        body = _csv(*(_card_row(f"h{i}", f"S{i}") for i in range(100)))
        response = client.post("/api/v1/imports", headers=org.headers,
                               files={"file": ("big.csv", body, "text/csv")})
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
    assert _job_count(db, org) == 0


def test_a_file_holding_a_nul_character_is_refused_whole_on_both_databases(
    client: TestClient, org: Org, db: Database
) -> None:
    """PostgreSQL cannot store NUL: the import job failed on it there ("stopped at row 1"),
    quoting the database's error, and succeeded on SQLite. The upload is refused instead."""
    _install(client, org)
    response = client.post("/api/v1/imports", headers=org.headers, files={
        "file": ("x.csv", _csv(_card_row("h1", "NUL-1", title="Ca\x00rd")), "text/csv")})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "file"
    assert "NUL" in response.json()["errors"][0]["message"]
    assert _products(client, org, q="NUL-1") == []
