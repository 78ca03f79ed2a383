"""Catalog at card-store scale: bulk import speed, then list/search/facet latency.

1. ``import_100k``: a 100,000-row CSV (20,000 cards x 5 conditions) through the real import
   path (``create_job`` + ``run_job``, as ``mercato import products`` does) in a separate
   process: rows/s and that process's peak memory.
2. Four more imports fill the catalog to 500,000 variants (100,000 products).
3. At 16 connections: a 50-item page with filters, an attribute + price filter, a full-text
   search, and facet counts (as served: repeats come from the server's facet cache), each
   compared with the ``auth_read`` ceiling; and ``store_page``, the storefront's 50-product
   page (anonymous, published products with the web channel's availability), compared with
   ``noop``.
4. On a server that counts facets every time: ``facets_counted`` (the facet request above),
   ``facets_all_counted`` (the same fields over the whole catalog) and
   ``store_facets_counted`` (the storefront's page of one game with those counts).

``python -m bench catalog [--db sqlite,postgresql]``; ``MERCATO_BENCH_CATALOG_PRODUCTS``
(default 100000) scales the catalog down for a quick look.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.loadgen import RequestTemplate
from bench.registry import Context, Row, register
from bench.stack import ROOT, running_server, server_env, stack

VARIANTS_PER_PRODUCT = 5
IMPORT_PRODUCTS = 20_000
GAMES = ("magic", "pokemon", "yugioh", "lorcana")
RARITIES = ("common", "uncommon", "rare", "mythic", "special")
CONDITIONS = ("NM", "LP", "MP", "HP", "DMG")
WORDS = ("shivan", "dragon", "lightning", "bolt", "elves", "llanowar", "serra", "angel",
         "black", "lotus", "counterspell", "giant", "growth", "dark", "ritual", "wrath",
         "god", "sol", "ring", "mox", "pearl", "ancestral", "recall", "time", "walk",
         "charizard", "pikachu", "blastoise", "mew", "gengar", "blue", "eyes", "white",
         "magician", "girl", "exodia", "stitch", "elsa", "mickey", "goliath")
HEADER = ["handle", "title", "product_type", "status", "vendor", "tags", "sku", "price",
          "attr.game", "attr.set_code", "attr.set_name", "attr.collector_number",
          "attr.rarity", "variant.attr.condition", "variant.attr.finish",
          "variant.attr.language"]


def write_catalog_csv(path: Path, first: int, products: int, seed: int = 7) -> int:
    """``products`` cards from number ``first`` on, one row per condition; the row count."""
    rng = random.Random(seed + first)
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(first, first + products):
            game = GAMES[n % len(GAMES)]
            title = " ".join(rng.sample(WORDS, 2)).title() + f" {n}"
            set_code = f"S{n % 200:03d}"
            base = rng.randint(10, 5000)
            for i, condition in enumerate(CONDITIONS):
                writer.writerow([
                    f"card-{n}", title, "tcg-single", "active" if n % 10 else "draft",
                    "Wizards" if game == "magic" else "Other", "single|" + game,
                    f"{game[:3].upper()}-{n}-{condition}", f"{base * (5 - i) / 500:.2f}",
                    game, set_code, f"Set {set_code}", str(n % 300 + 1),
                    RARITIES[n % len(RARITIES)], condition,
                    "foil" if n % 7 == 0 else "nonfoil", "EN"])
                rows += 1
    return rows


IMPORT_SCRIPT = """
import json, resource, sys, time
from mercato.app import load_modules
from mercato.catalog import imports
from mercato.core.db import SYSTEM, Database
from mercato.settings import get_settings
from mercato.tenancy.service import get_by_slug

settings = get_settings()
load_modules(settings)
db = Database.from_settings(settings, pool_size=2)
path, slug = sys.argv[1], sys.argv[2]
with db.session(write=False, tenant=SYSTEM) as session:
    org = get_by_slug(session, slug).id
content = open(path, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF)
cpu_before = before.ru_utime + before.ru_stime
started = time.perf_counter()
with db.transaction(tenant=org) as session:
    job = imports.create_job(session, content=content, filename=path, fmt=None,
                             dry_run=False, created_by=None, claim=True)
    job_id = job.id
imports.run_job(db, job_id)
seconds = time.perf_counter() - started
with db.session(write=False, tenant=org) as session:
    job = imports.get_job(session, job_id)
    result = {"status": job.status, "rows": job.rows_done, "created": job.created,
              "failed": job.failed, "message": job.message}
result["seconds"] = seconds
result["rows_per_second"] = result["rows"] / seconds
usage = resource.getrusage(resource.RUSAGE_SELF)
result["peak_rss_mb"] = usage.ru_maxrss / 1024
result["cpu_seconds"] = usage.ru_utime + usage.ru_stime - cpu_before
result["file_mb"] = len(content) / 2**20
print(json.dumps(result))
"""


def run_import(database_url: str, path: Path) -> dict[str, Any]:
    """The import in its own interpreter, so its time and peak memory are its own."""
    done = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT, str(path), "bench"],
                          env=server_env(database_url, ()), cwd=ROOT, capture_output=True,
                          text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"import failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["status"] != "succeeded" or result["failed"]:
        raise RuntimeError(f"import did not succeed: {result}")
    return result


@register("catalog", description="import 100k rows; list/search/facets with 500k variants")
def catalog(ctx: Context) -> list[Row]:
    total_products = int(os.environ.get("MERCATO_BENCH_CATALOG_PRODUCTS", "100000"))
    with stack(ctx.database) as s, tempfile.TemporaryDirectory() as tmp:
        auth = s.server.headers
        status, body = s.server.request("POST", "/api/v1/product-types/install",
                                        {"set": "tcg"}, auth)
        if status != 200:
            raise RuntimeError(f"install answered {status}: {body[:300]!r}")
        imported: list[dict[str, Any]] = []
        first = 0
        while first < total_products:
            count = min(IMPORT_PRODUCTS, total_products - first)
            path = Path(tmp) / f"cards-{first}.csv"
            write_catalog_csv(path, first, count)
            imported.append(run_import(s.database_url, path))
            path.unlink()
            first += count
        if s.backend == "postgresql":
            subprocess.run(["psql", s.database_url.replace("+psycopg", ""), "-qc", "ANALYZE"],
                           check=False, capture_output=True)
        cases = {
            "page_filtered": "/api/v1/products?limit=50&status=active&attr.game=magic"
                             "&sort=title",
            "attr_price": "/api/v1/products?limit=50&attr.condition=NM&attr.rarity=rare"
                          "&price_max=20.00&sort=price",
            "search": "/api/v1/products?limit=50&q=dragon+shiv",
            "facets": "/api/v1/products/facets?attr.game=pokemon"
                      "&facet=attr.rarity,attr.condition,attr.finish",
        }
        rows = []
        for case, path_ in cases.items():
            rows.append(ctx.measure(case, s.server, RequestTemplate("GET", path_, auth),
                                    ceiling="auth_read"))
        # what a shopper meets: published products only, with the web channel's availability
        rows.append(ctx.measure(
            "store_page", s.server,
            RequestTemplate("GET", "/store/v1/bench/products?limit=50&attr.game=magic"
                            "&sort=title", {}), ceiling="noop"))
        # the same facet request counted every time: what a request the cache has not
        # seen (or a catalog that keeps changing) costs; then the whole catalog's counts, and
        # the storefront's page of a game with its counts
        with running_server(s.database_url,
                            settings={"MERCATO_FACET_CACHE_SECONDS": "0"}) as counting:
            counting.sign_in()
            rows.append(ctx.measure("facets_counted", counting,
                                    RequestTemplate("GET", cases["facets"], counting.headers),
                                    ceiling="auth_read"))
            rows.append(ctx.measure(
                "facets_all_counted", counting,
                RequestTemplate("GET", "/api/v1/products/facets?facet=attr.rarity,"
                                "attr.condition,attr.finish", counting.headers),
                ceiling="auth_read"))
            rows.append(ctx.measure(
                "store_facets_counted", counting,
                RequestTemplate("GET", "/store/v1/bench/products?limit=50&attr.game=pokemon"
                                "&facets=attr.rarity,attr.condition,attr.finish", {}),
                ceiling="noop"))
        first_import = imported[0]
        later = ", ".join(f"{i['rows_per_second']:,.0f}" for i in imported[1:]) or "none"
        rows[0].extra["import_100k"] = first_import
        rows[0].extra["catalog"] = {"products": total_products,
                                    "variants": total_products * VARIANTS_PER_PRODUCT,
                                    "imports": [round(i["rows_per_second"]) for i in imported]}
        rows[0].extra["note"] = (
            f"import of {first_import['rows']:,} rows: {first_import['seconds']:.1f} s, "
            f"{first_import['rows_per_second']:,.0f} rows/s, peak RSS "
            f"{first_import['peak_rss_mb']:.0f} MB ({first_import['file_mb']:.1f} MB file); "
            f"catalog {total_products:,} products / "
            f"{total_products * VARIANTS_PER_PRODUCT:,} variants; later imports {later} rows/s")
        return rows
