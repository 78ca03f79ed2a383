"""The admin's product list page, and the storefront's catalog and product pages, beside the
JSON they are built on.

A catalog of 100,000 variants (20,000 cards x 5 conditions, through the real import path),
then at 16 connections: ``api_list`` (``GET /api/v1/products``, 50 items, a staff token) and
``admin_page`` (``GET /admin/products``, the same 50 items rendered as the page a signed-in
member sees, with a session cookie), each with its filtered variant. Both compare with the
``auth_read`` ceiling; the page's ratio to the list is its cost of rendering (WEB.md: at most
1.5x). Then, anonymous as a shopper: ``store_list`` (``GET /store/v1/bench/products``, 24
cards of one game with the eight facets the page shows) and ``store_catalog_page``
(``GET /s/bench/products``, that page), ``store_product`` and ``store_product_page`` (one
product's JSON and its page), compared with the ``noop`` ceiling.

``python -m bench pages [--db sqlite,postgresql]``; ``MERCATO_BENCH_PAGES_PRODUCTS`` (default
20000) scales the catalog.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import tempfile
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from bench.catalog import IMPORT_PRODUCTS, VARIANTS_PER_PRODUCT, run_import, write_catalog_csv
from bench.loadgen import RequestTemplate
from bench.registry import Context, Row, register
from bench.stack import OWNER_EMAIL, OWNER_PASSWORD, Server, stack

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def page_session(server: Server) -> dict[str, str]:
    """Sign in through the login form, as a browser does: the session cookie's header."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("GET", "/admin/login")
        first = conn.getresponse()
        page = first.read().decode()
        login_cookie = SimpleCookie(first.headers.get("set-cookie", ""))
        token = CSRF.search(page)
        if token is None:
            raise RuntimeError("the sign-in page has no CSRF field")
        form = urlencode({"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "next": "/admin",
                          "csrf_token": token.group(1)})
        cookie = "; ".join(f"{k}={v.value}" for k, v in login_cookie.items())
        conn.request("POST", "/admin/login", body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        answer = conn.getresponse()
        answer.read()
        if answer.status != 303:
            raise RuntimeError(f"page sign-in answered {answer.status}")
        session = SimpleCookie()
        for header in answer.headers.get_all("set-cookie") or []:
            session.load(header)
        return {"Cookie": f"mercato_session={session['mercato_session'].value}"}
    finally:
        conn.close()


@register("pages", description="admin and storefront pages beside their JSON")
def pages(ctx: Context) -> list[Row]:
    total_products = int(os.environ.get("MERCATO_BENCH_PAGES_PRODUCTS", "20000"))
    with stack(ctx.database) as s, tempfile.TemporaryDirectory() as tmp:
        status, body = s.server.request("POST", "/api/v1/product-types/install",
                                        {"set": "tcg"}, s.server.headers)
        if status != 200:
            raise RuntimeError(f"install answered {status}: {body[:300]!r}")
        first = 0
        while first < total_products:
            count = min(IMPORT_PRODUCTS, total_products - first)
            path = Path(tmp) / f"cards-{first}.csv"
            write_catalog_csv(path, first, count)
            run_import(s.database_url, path)
            path.unlink()
            first += count
        if s.backend == "postgresql":
            subprocess.run(["psql", s.database_url.replace("+psycopg", ""), "-qc", "ANALYZE"],
                           check=False, capture_output=True)
        cookie = page_session(s.server)
        query = "limit=50&status=active&attr.game=magic&sort=title"
        rows = [
            ctx.measure("api_list", s.server, RequestTemplate(
                "GET", "/api/v1/products?limit=50", s.server.headers), ceiling="auth_read"),
            ctx.measure("admin_page", s.server, RequestTemplate(
                "GET", "/admin/products", cookie), ceiling="auth_read"),
            ctx.measure("api_list_filtered", s.server, RequestTemplate(
                "GET", f"/api/v1/products?{query}", s.server.headers), ceiling="auth_read"),
            ctx.measure("admin_page_filtered", s.server, RequestTemplate(
                "GET", f"/admin/products?{query}", cookie), ceiling="auth_read"),
        ]
        # the storefront's catalog page (24 cards and its facets) and a product page, each
        # beside the storefront JSON it is built on, anonymous as a shopper is
        facets = "product_type,category,attr.game,attr.set_code,attr.rarity,attr.condition," \
                 "attr.finish,vendor"
        shop = "attr.game=magic&sort=title"
        rows += [
            ctx.measure("store_list", s.server, RequestTemplate(
                "GET", f"/store/v1/bench/products?limit=24&{shop}&facets={facets}", {}),
                ceiling="noop"),
            ctx.measure("store_catalog_page", s.server, RequestTemplate(
                "GET", f"/s/bench/products?{shop}", {}), ceiling="noop"),
            ctx.measure("store_product", s.server, RequestTemplate(
                "GET", "/store/v1/bench/products/card-1", {}), ceiling="noop"),
            ctx.measure("store_product_page", s.server, RequestTemplate(
                "GET", "/s/bench/products/card-1", {}), ceiling="noop"),
        ]
        for page_row, list_row in ((rows[1], rows[0]), (rows[3], rows[2]), (rows[5], rows[4]),
                                   (rows[7], rows[6])):
            page_row.extra["vs_json"] = round(
                list_row.result.rps / page_row.result.rps, 2) if page_row.result.rps else None
        rows[0].extra["catalog"] = {"products": total_products,
                                    "variants": total_products * VARIANTS_PER_PRODUCT}
        rows[0].extra["note"] = (f"{total_products * VARIANTS_PER_PRODUCT:,} variants; "
                                 "vs_json = JSON list req/s / page req/s")
        return rows
