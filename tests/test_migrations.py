"""Migrations build exactly the schema the models describe, on both databases, and reverse."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, create_engine, inspect, pool, select, text
from sqlalchemy.exc import IntegrityError

import mercato.models  # noqa: F401 - registers every table
from mercato.catalog.models import ProductFacetSet, ProductListing
from mercato.catalog.schemas import ProductCreate, ProductTypeCreate, VariantIn
from mercato.catalog.service import create_product, create_product_type
from mercato.core.db import SYSTEM, Base, Database, json_loads
from mercato.migrations import downgrade, include_object, upgrade
from tests.conftest import create_org, drop_pg_database, make_settings, new_database_url


def _diff(url: str) -> list[object]:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return list(diff)


def test_migrated_schema_matches_the_models(backend: str, tmp_path: Path) -> None:
    url = new_database_url(backend, tmp_path)
    try:
        assert _diff(url) == []
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


def test_migrations_downgrade_to_nothing_and_upgrade_again(backend: str, tmp_path: Path) -> None:
    url = new_database_url(backend, tmp_path)
    try:
        downgrade(url, "base")
        engine = create_engine(url, poolclass=pool.NullPool)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
        upgrade(url)
        assert _diff(url) == []
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


def test_import_files_move_to_their_own_table_and_back(backend: str, tmp_path: Path) -> None:
    """0015 keeps each job's uploaded file, whichever way it runs."""
    url = new_database_url(backend, tmp_path)
    engine = create_engine(url, poolclass=pool.NullPool)

    def system(conn: Connection) -> None:
        if backend == "postgresql":
            conn.execute(text("SELECT set_config('mercato.organization_id', '*', true)"))

    try:
        downgrade(url, "0014")
        now = dt.datetime(2026, 11, 22, tzinfo=dt.UTC).isoformat()
        with engine.begin() as conn:
            system(conn)
            conn.execute(text("INSERT INTO organizations (id, slug, name, created_at, "
                              "updated_at, version) VALUES ('o1', 'o1', 'O', :t, :t, 1)"),
                         {"t": now})
            conn.execute(text(
                "INSERT INTO import_jobs (id, kind, format, filename, dry_run, status, content, "
                "rows_total, rows_done, created, updated, unchanged, failed, products_created, "
                "message, created_at, organization_id) VALUES ('j1', 'products', 'mercato', "
                "'f.csv', false, 'queued', :c, 1, 0, 0, 0, 0, 0, 0, '', :t, 'o1')"),
                {"c": b"sku,title\nA,B\n", "t": now})
        upgrade(url)
        with engine.begin() as conn:
            system(conn)
            assert conn.execute(text("SELECT job_id, organization_id, content FROM "
                                     "import_contents")).all() == [
                ("j1", "o1", b"sku,title\nA,B\n")]
        assert "content" not in {c["name"] for c in inspect(engine).get_columns("import_jobs")}
        downgrade(url, "0014")
        with engine.begin() as conn:
            system(conn)
            assert conn.execute(text("SELECT content FROM import_jobs")).scalar() == (
                b"sku,title\nA,B\n")
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


def test_domains_mapped_before_0017_become_pending_claims_and_pending_ones_go_on_downgrade(
    backend: str, tmp_path: Path
) -> None:
    """0017: a domain mapped before verification existed was never proved, so it routes no
    more until verified; going back, pending claims are dropped, since every row routes under
    the old schema."""
    url = new_database_url(backend, tmp_path)
    engine = create_engine(url, poolclass=pool.NullPool)

    def system(conn: Connection) -> None:
        if backend == "postgresql":
            conn.execute(text("SELECT set_config('mercato.organization_id', '*', true)"))

    try:
        downgrade(url, "0016")
        now = dt.datetime(2026, 11, 23, tzinfo=dt.UTC).isoformat()
        with engine.begin() as conn:
            system(conn)
            for org in ("o1", "o2"):
                conn.execute(text("INSERT INTO organizations (id, slug, name, created_at, "
                                  "updated_at, version) VALUES (:o, :o, 'O', :t, :t, 1)"),
                             {"o": org, "t": now})
            conn.execute(text("INSERT INTO organization_domains (id, domain, created_at, "
                              "organization_id) VALUES ('d1', 'a.example.com', :t, 'o1'), "
                              "('d2', 'b.example.com', :t, 'o1')"), {"t": now})
        upgrade(url)
        with engine.begin() as conn:
            system(conn)
            rows = conn.execute(text("SELECT id, token, verified_at FROM organization_domains "
                                     "ORDER BY id")).all()
            assert [(r[0], r[2]) for r in rows] == [("d1", None), ("d2", None)]
            assert len({rows[0][1], rows[1][1]} - {None, ""}) == 2  # a fresh token each
            # two organizations may now claim one name; only one may hold it verified
            conn.execute(text("INSERT INTO organization_domains (id, domain, token, created_at, "
                              "organization_id) VALUES ('d3', 'a.example.com', 't', :t, 'o2')"),
                         {"t": now})
            conn.execute(text("UPDATE organization_domains SET verified_at = :t "
                              "WHERE id IN ('d2', 'd3')"), {"t": now})
        with engine.begin() as conn:
            system(conn)
            with pytest.raises(IntegrityError):
                conn.execute(text("UPDATE organization_domains SET verified_at = :t "
                                  "WHERE id = 'd1'"), {"t": now})
        downgrade(url, "0016")
        with engine.begin() as conn:
            system(conn)
            assert conn.execute(text("SELECT id FROM organization_domains ORDER BY id")
                                ).scalars().all() == ["d2", "d3"]
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


def test_connections_to_one_shop_keep_the_working_one_and_park_the_others(
        backend: str, tmp_path: Path) -> None:
    """0019: a Shopify and a BinderPOS connection to one shop (allowed before) become one
    connection holding the shop, the working one; the other is kept, disabled and told why.
    Sales channels get the email setting of their kind."""
    url = new_database_url(backend, tmp_path)
    engine = create_engine(url, poolclass=pool.NullPool)

    def system(conn: Connection) -> None:
        if backend == "postgresql":
            conn.execute(text("SELECT set_config('mercato.organization_id', '*', true)"))

    try:
        downgrade(url, "0018")
        t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
        with engine.begin() as conn:
            system(conn)
            conn.execute(text("INSERT INTO organizations (id, slug, name, created_at, "
                              "updated_at, version) VALUES ('o1', 'o1', 'O', :t, :t, 1)"),
                         {"t": t0.isoformat()})
            for channel, kind in (("c1", "shopify"), ("c2", "binderpos"), ("c3", "web"),
                                  ("c4", "shopify")):
                conn.execute(text(
                    "INSERT INTO sales_channels (id, name, kind, default_buffer, created_at, "
                    "updated_at, version, organization_id) VALUES (:id, :id, :kind, 0, :t, "
                    ":t, 1, 'o1')"), {"id": channel, "kind": kind, "t": t0.isoformat()})
            rows = [  # the BinderPOS one is older, but never worked
                ("k1", "c1", "shopify", "shop.myshopify.com", t0 + dt.timedelta(days=1),
                 t0 + dt.timedelta(days=2)),
                ("k2", "c2", "binderpos", "shop.myshopify.com", t0, None),
                ("k4", "c4", "shopify", "other.myshopify.com", t0, None)]
            for ident, channel, kind, account, created, success in rows:
                conn.execute(text(
                    "INSERT INTO channel_connections (id, channel_id, kind, mode, account, "
                    "api_version, credentials, credential_hints, settings, enabled, circuit, "
                    "cursors, last_success_at, created_at, updated_at, organization_id) VALUES "
                    "(:id, :channel, :kind, 'channel', :account, '2026-10', 'x', '{}', '{}', "
                    "true, '{}', '{}', :success, :t, :t, 'o1')"),
                    {"id": ident, "channel": channel, "kind": kind, "account": account,
                     "success": success.isoformat() if success else None,
                     "t": created.isoformat()})
        upgrade(url)
        assert _diff(url) == []
        with engine.begin() as conn:
            system(conn)
            found = {r.id: r for r in conn.execute(text(
                "SELECT id, platform, account, enabled, last_error FROM channel_connections"))}
            emails = dict(conn.execute(text("SELECT id, email_buyers FROM sales_channels")).all())
        assert (found["k1"].platform, found["k1"].account, bool(found["k1"].enabled)) == (
            "shopify", "shop.myshopify.com", True)
        assert (found["k2"].platform, found["k2"].account, bool(found["k2"].enabled)) == (
            "shopify", "shop.myshopify.com#duplicate-k2", False)
        assert "connected to channel c1" in found["k2"].last_error
        assert (found["k4"].account, bool(found["k4"].enabled)) == ("other.myshopify.com", True)
        assert {k: bool(v) for k, v in emails.items()} == {
            "c1": False, "c2": False, "c3": True, "c4": False}
        downgrade(url, "0018")
        with engine.begin() as conn:
            system(conn)
            assert conn.execute(text("SELECT account FROM channel_connections WHERE id = 'k2'")
                                ).scalar() == "shop.myshopify.com"
    finally:
        engine.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


def test_products_written_before_facet_sets_gain_theirs(backend: str, tmp_path: Path) -> None:
    """The newest rebuild of every product's derived rows (0024's, taken over from 0020):
    a catalog from before 0020 is counted from facet sets at once, and its listings carry
    ``channels`` (which 0013 left to the newest rebuild) and each variant's ``archived_at``."""
    url = new_database_url(backend, tmp_path)
    db = Database(url)
    try:
        org = create_org(db, make_settings(url))
        with db.transaction(tenant=org.id) as session:
            create_product_type(session, ProductTypeCreate(name="Free", slug="free"))
            product_id = create_product(session, ProductCreate(
                title="Bolt", product_type="free", tags=["red"], channels=["web"],
                attributes={"game": "magic", "rarity": "common"},
                variants=[VariantIn(sku=f"B-{c}", price="1", attributes={"condition": c})
                          for c in ("NM", "LP")])).id
        db.dispose()
        downgrade(url, "0019")
        with db.engine.begin() as conn:  # as 0019 left listings: no channels yet
            if backend == "postgresql":
                conn.execute(text("SELECT set_config('mercato.organization_id', '*', true)"))
            conn.execute(text("UPDATE product_listings SET body = '{}'"))
        upgrade(url)
        with db.session(tenant=SYSTEM) as session:
            sets = session.execute(select(ProductFacetSet.product_id, ProductFacetSet.facets))
            listing = session.scalar(select(ProductListing.body))
        assert dict(sets.all()) == {product_id: {
            "tag": ["red"], "attr.game": ["magic"], "attr.rarity": ["common"],
            "attr.condition": ["LP", "NM"]}}
        assert listing is not None
        assert json_loads(listing)["channels"] == ["web"]
        assert [v["archived_at"] for v in json_loads(listing)["variants"]] == [None, None]
    finally:
        db.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


def test_secrets_stored_in_plain_text_before_0021_are_gone_after_it(
    backend: str, tmp_path: Path
) -> None:
    """0021: unsealed idempotent answers are deleted; reset and verification emails stored in
    plain text lose their bodies (pending ones are skipped); sealed ones are untouched."""
    from mercato.core.idempotency_keys import IdempotencyKey
    from mercato.notifications.models import Notification

    url = new_database_url(backend, tmp_path)
    db = Database(url)
    try:
        org = create_org(db, make_settings(url))
        db.dispose()
        downgrade(url, "0020")
        with db.transaction(tenant=org.id) as session:
            session.add_all([
                IdempotencyKey(scope="old", key="plain", fingerprint="f", sealed=False,
                               response_body=b'{"key": "mk_x_secret"}'),
                IdempotencyKey(scope="new", key="sealed", fingerprint="f", sealed=True,
                               response_body=b"gAAAA")])
            for n, (kind, body, status) in enumerate([
                    ("password_reset", "reset: cst_x_secret", "pending"),
                    ("verify_email", "verify: cst_y_secret", "sent"),
                    ("password_reset", "sealed:gAAAA", "pending"),
                    ("order_placed", "your order", "pending")]):
                session.add(Notification(kind=kind, recipient="a@b.test", subject="s",
                                         body_text=body, body_html=body, status=status,
                                         reference=f"r{n}", organization_id=org.id))
        db.dispose()
        upgrade(url)
        with db.session(tenant=SYSTEM) as session:
            keys = set(session.scalars(select(IdempotencyKey.key)))
            mails = {n.reference: n for n in session.scalars(select(Notification))}
        assert keys == {"sealed"}
        assert "cst_" not in "".join(m.body_text + m.body_html for m in mails.values())
        assert (mails["r0"].status, mails["r1"].status) == ("skipped", "sent")
        assert (mails["r2"].body_text, mails["r2"].status) == ("sealed:gAAAA", "pending")
        assert (mails["r3"].body_text, mails["r3"].status) == ("your order", "pending")
    finally:
        db.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


def test_installed_card_types_accept_any_rarity_and_condition_after_0026(
    backend: str, tmp_path: Path
) -> None:
    """An organization whose ``tcg`` types were installed with the closed rarity list (and
    condition codes) takes Lorcana's ``enchanted`` and a kept condition after 0026."""
    from mercato.catalog.service import install_type_set
    from mercato.catalog.validation import attribute_errors, validator_for

    url = new_database_url(backend, tmp_path)
    db = Database(url)
    try:
        org = create_org(db, make_settings(url))
        with db.transaction(tenant=org.id) as session:
            install_type_set(session, "tcg")
        db.dispose()
        downgrade(url, "0025")
        closed = ["common", "uncommon", "rare", "mythic", "special", "promo", "secret", "other"]
        with db.engine.begin() as conn:  # as installed before 0026
            if backend == "postgresql":
                conn.execute(text("SELECT set_config('mercato.organization_id', '*', true)"))
            for type_id, attrs, variant in conn.execute(text(
                    "SELECT id, attributes_schema, variant_attributes_schema FROM product_types "
                    "WHERE slug = 'tcg-single'")).all():
                attrs = json_loads(attrs) if isinstance(attrs, str) else attrs
                variant = json_loads(variant) if isinstance(variant, str) else variant
                attrs["properties"]["rarity"] = {"type": "string", "enum": closed}
                variant["properties"]["condition"] = {"type": "string",
                                                      "enum": ["NM", "LP", "MP", "HP", "DMG"]}
                del variant["properties"]["tcgplayer_id"]
                conn.execute(text("UPDATE product_types SET attributes_schema = :a, "
                                  "variant_attributes_schema = :v WHERE id = :id"),
                             {"a": json.dumps(attrs), "v": json.dumps(variant), "id": type_id})
        with db.session(tenant=SYSTEM) as session:
            before = session.execute(text(
                "SELECT attributes_schema FROM product_types WHERE slug = 'tcg-single'")).scalar()
        before = json_loads(before) if isinstance(before, str) else before
        card = {"game": "lorcana", "set_name": "The First Chapter", "collector_number": "1",
                "rarity": "enchanted"}
        assert attribute_errors(validator_for(before), card, "attributes")  # refused before
        upgrade(url)
        with db.session(tenant=SYSTEM) as session:
            attrs, variant = session.execute(text(
                "SELECT attributes_schema, variant_attributes_schema FROM product_types "
                "WHERE slug = 'tcg-single'")).one()
        attrs = json_loads(attrs) if isinstance(attrs, str) else attrs
        variant = json_loads(variant) if isinstance(variant, str) else variant
        assert attribute_errors(validator_for(attrs), card, "attributes") == []
        assert attribute_errors(validator_for(variant), {
            "condition": "Excellent", "finish": "foil", "language": "EN",
            "tcgplayer_id": "12345"}, "attributes") == []
        assert attribute_errors(validator_for(attrs), {**card, "rarity": ""}, "attributes")
    finally:
        db.dispose()
        if backend == "postgresql":
            drop_pg_database(url)
