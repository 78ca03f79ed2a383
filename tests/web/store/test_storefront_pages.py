"""The storefront's pages (``/s/{store}``): home, search and facet links, a product's page,
the guest cart (add, change, remove, codes) with its cookies and CSRF, and errors as pages in
the store's layout. A guest's browser is a TestClient with its own cookies; the shop's staff
set things up through the API. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from tests.catalog.reviews.test_reviews import moderate, write_review
from tests.conftest import Org
from tests.orders.helpers import place_order
from tests.storefront_helpers import sign_up
from tests.web.store.helpers import card, csrf_in, variant


@pytest.fixture
def guest(app: FastAPI) -> Iterator[TestClient]:
    """A shopper's browser: its own cookie jar, no session."""
    with TestClient(app, raise_server_exceptions=False, base_url="http://testserver") as b:
        yield b


def _tag() -> str:
    return new_id()[-10:].lower()


def _add(guest: TestClient, org: Org, product: dict[str, Any], sku: str,
         quantity: int = 1) -> Any:
    shown = guest.get(f"/s/{org.slug}/products/{product['slug']}")
    assert shown.status_code == 200, shown.text
    return guest.post(f"/s/{org.slug}/cart/lines", data={
        "sku": sku, "quantity": str(quantity), "slug": product["slug"],
        "csrf_token": csrf_in(shown.text)}, follow_redirects=False)


def _line_ids(html: str) -> list[str]:
    return re.findall(r'action="/s/[^/]+/cart/lines/([0-9A-Z]+)"', html)


# -- layout, home, errors -------------------------------------------------------------------

def test_home_shows_new_arrivals_and_the_featured_collection_in_the_stores_layout(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    made = client.post("/api/v1/collections", headers=org.headers,
                       json={"name": "Featured", "slug": "featured"})
    assert made.status_code == 201, made.text
    card(client, org, f"Plain {tag}", tag=tag)
    card(client, org, f"Star {tag}", tag=tag, collections=["featured"])

    home = guest.get(f"/s/{org.slug}/")
    assert home.status_code == 200, home.text
    html = home.text
    assert '<html lang="en">' in html
    assert 'href="#main">Skip to content</a>' in html
    assert f"Org {org.slug}" in html  # the store's name in the header
    assert '<label for="store-search">Search</label>' in html
    assert f'href="/s/{org.slug}/cart"' in html
    assert "Cart <span class=\"count\">(0" in html
    assert "/admin" not in html  # not the admin's layout
    featured = html.split('id="featured-h"')[1].split("</section>")[0]
    arrivals = html.split('id="arrivals-h"')[1].split("</section>")[0]
    assert f"Star {tag}" in featured
    assert f"Plain {tag}" not in featured
    assert arrivals.index(f"Star {tag}") < arrivals.index(f"Plain {tag}")  # newest first
    assert home.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in home.headers["content-security-policy"]


def test_home_without_a_featured_collection_shows_only_new_arrivals(
        client: TestClient, guest: TestClient, org: Org) -> None:
    card(client, org, f"Only {_tag()}", tag=_tag())
    html = guest.get(f"/s/{org.slug}").text
    assert 'id="featured-h"' not in html
    assert 'id="arrivals-h"' in html


def test_an_unknown_store_is_a_404_page_not_json(guest: TestClient) -> None:
    answer = guest.get(f"/s/no-such-store-{_tag()}/products")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in answer.text
    assert "No store has the slug" in answer.text


def test_another_stores_product_slug_is_a_404_page_in_this_stores_layout(
        client: TestClient, guest: TestClient, org: Org, other_org: Org) -> None:
    theirs = card(client, other_org, f"Theirs {_tag()}", tag=_tag())
    assert guest.get(f"/s/{other_org.slug}/products/{theirs['slug']}").status_code == 200
    answer = guest.get(f"/s/{org.slug}/products/{theirs['slug']}")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert f"Org {org.slug}" in answer.text
    assert "Back to the store" in answer.text
    assert theirs["title"] not in answer.text


def test_pages_follow_the_organizations_locale_and_currency(
        client: TestClient, guest: TestClient, org: Org) -> None:
    changed = client.patch("/api/v1/organization", headers=org.headers,
                           json={"locale": "fr_CA", "currency": "CAD"})
    assert changed.status_code == 200, changed.text
    tag = _tag()
    made = card(client, org, f"Prix {tag}", tag=tag,
                variants=[{**variant(f"P-{tag}", "1234.50"), "currency": "CAD"}])
    html = guest.get(f"/s/{org.slug}/products/{made['slug']}").text
    assert '<html lang="fr-CA">' in html
    assert "1\u00a0234,50\u00a0$" in html


# -- catalog -------------------------------------------------------------------------------

def test_search_lists_matching_cards_with_price_range_and_availability(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    a, b = f"A-{tag}", f"B-{tag}"
    card(client, org, f"Goblin Guide {tag}", tag=tag,
         variants=[variant(a, "2.00"), variant(b, "3.50", condition="LP")], stock={a: 2})
    card(client, org, f"Shock {tag}", tag=tag, variants=[variant(f"C-{tag}", "0.25")])
    card(client, org, f"Other {_tag()}", tag=_tag())

    found = guest.get(f"/s/{org.slug}/products", params={"q": f"goblin {tag}"})
    assert found.status_code == 200, found.text
    assert f"Goblin Guide {tag}" in found.text
    assert f"Shock {tag}" not in found.text
    assert "$2.00 \u2013 $3.50" in found.text
    assert "In stock" in found.text
    assert f'value="goblin {tag}"' in found.text  # the search box keeps the words

    both = guest.get(f"/s/{org.slug}/products", params={"tag": tag, "sort": "title"}).text
    shock = both.split(f"Shock {tag}")[1].split("</li>")[0]
    assert "$0.25" in shock
    assert "Sold out" in shock


def test_facets_are_plain_links_that_filter_and_unfilter(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    card(client, org, f"Foil one {tag}", tag=tag,
         variants=[variant(f"F-{tag}", finish="foil")])
    card(client, org, f"Plain one {tag}", tag=tag, variants=[variant(f"N-{tag}")])
    listing = guest.get(f"/s/{org.slug}/products", params={"tag": tag}).text
    links = dict(re.findall(r'<a href="([^"]+)"[^>]*>([^<]+) <span class="n">', listing))
    foil = next(href for href, label in links.items() if label == "Foil")
    assert "attr.finish=foil" in foil
    assert f"tag={tag}" in foil

    filtered = guest.get(foil.replace("&amp;", "&"))
    assert filtered.status_code == 200
    assert f"Foil one {tag}" in filtered.text
    assert f"Plain one {tag}" not in filtered.text
    chosen = re.search(r'<a href="([^"]+)" aria-current="true" class="chosen">', filtered.text)
    assert chosen, "the chosen facet links back to the listing without it"
    unfiltered = guest.get(chosen.group(1).replace("&amp;", "&")).text
    assert f"Plain one {tag}" in unfiltered
    assert f"Foil one {tag}" in unfiltered


def test_listing_pages_by_cursor_with_a_next_page_link(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    for i in range(3):
        card(client, org, f"Paged {i} {tag}", tag=tag)
    first = guest.get(f"/s/{org.slug}/products",
                      params={"tag": tag, "sort": "title", "limit": "2"}).text
    assert f"Paged 0 {tag}" in first
    assert f"Paged 2 {tag}" not in first
    following = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first)
    assert following
    second = guest.get(following.group(1).replace("&amp;", "&")).text
    assert f"Paged 2 {tag}" in second
    assert f"Paged 0 {tag}" not in second
    assert "First page" in second
    assert 'rel="next"' not in second


def test_a_bad_filter_is_a_422_page(guest: TestClient, org: Org) -> None:
    answer = guest.get(f"/s/{org.slug}/products", params={"sort": "cost"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")


# -- product page --------------------------------------------------------------------------

def test_product_page_shows_variants_by_condition_and_finish_with_meta_and_json_ld(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    nm, lp = f"NM-{tag}", f"LP-{tag}"
    made = card(client, org, f"Bolt </script> {tag}", tag=tag, vendor="Wizards",
                description="Deals 3 damage.\n\nAn instant.",
                media=[{"url": "https://img.example.com/bolt.png", "alt": "Bolt art"}],
                variants=[variant(nm, "2.00"), variant(lp, "1.00", condition="LP",
                                                       finish="foil")],
                stock={nm: 4})
    page = guest.get(f"/s/{org.slug}/products/{made['slug']}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<legend>Condition and finish</legend>" in html
    assert "Near Mint (NM), Non-foil, EN" in html
    assert "Lightly Played (LP), Foil, EN" in html
    assert re.search(rf'value="{nm}" checked required>', html)
    assert re.search(rf'value="{lp}" disabled required>', html)  # sold out: not choosable
    assert "4 available" in html
    assert '<label for="f-quantity">Quantity</label>' in html
    assert '<button type="submit" class="primary">Add to cart</button>' in html
    assert '<meta name="description" content="Deals 3 damage. An instant.">' in html
    assert '<meta property="og:image" content="https://img.example.com/bolt.png">' in html
    assert 'alt="Bolt art"' in html
    assert "<p>An instant.</p>" in html

    block = html.split('<script type="application/ld+json">')[1].split("</script>")[0]
    assert "</" not in block  # the title's </script> cannot end the block
    data = json.loads(block)
    assert data["@type"] == "Product"
    assert data["name"] == made["title"]
    assert data["offers"]["lowPrice"] == "1.00"
    assert data["offers"]["highPrice"] == "2.00"
    assert data["offers"]["availability"] == "https://schema.org/InStock"
    assert data["brand"]["name"] == "Wizards"
    assert "<script>" not in html.replace("<script type=\"application/ld+json\">", "")


def test_a_product_pages_canonical_address_is_the_public_url_whatever_the_host(
        app: FastAPI, client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    made = card(client, org, f"Canon {tag}", tag=tag)
    page = guest.get(f"/s/{org.slug}/products/{made['slug']}",
                     headers={"Host": "attacker.example"})
    assert page.status_code == 200, page.text
    expected = (f"{app.state.settings.public_url.rstrip('/')}/s/{org.slug}/products/"
                f"{made['slug']}")
    assert f'<link rel="canonical" href="{expected}">' in page.text
    assert f'<meta property="og:url" content="{expected}">' in page.text
    block = page.text.split('<script type="application/ld+json">')[1].split("</script>")[0]
    assert json.loads(block)["url"] == expected
    assert "attacker.example" not in page.text


def test_a_product_with_nothing_to_sell_says_sold_out_without_an_add_to_cart_button(
        client: TestClient, guest: TestClient, org: Org) -> None:
    made = card(client, org, f"Empty {_tag()}", tag=_tag())
    html = guest.get(f"/s/{org.slug}/products/{made['slug']}").text
    assert "Sold out" in html
    assert '<button type="button" disabled>Add to cart</button>' in html
    assert 'action="/s/' + org.slug + '/cart/lines"' not in html
    assert '"availability":"https://schema.org/OutOfStock"' in html


def test_approved_reviews_show_with_a_verified_purchase_mark(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    sku = f"R-{tag}"
    made = card(client, org, f"Reviewed {tag}", tag=tag, variants=[variant(sku)],
                stock={sku: 5})
    buyer, looker = sign_up(client, org.slug), sign_up(client, org.slug)
    place_order(client, org, [(sku, 1)], customer={"email": buyer["email"]})
    bought = write_review(client, org, made["slug"], buyer, rating=5, body="Bought it.")
    looked = write_review(client, org, made["slug"], looker, rating=3, body="Saw it.")
    pending = write_review(client, org, made["slug"], sign_up(client, org.slug), rating=1,
                           body="Not approved.")
    for review in (bought, looked):
        assert moderate(client, org, review["id"], "approved").status_code == 200
    html = guest.get(f"/s/{org.slug}/products/{made['slug']}").text
    reviews = html.split('id="reviews-h"')[1]
    assert "Bought it." in reviews
    assert "Saw it." in reviews
    assert pending["body"] not in reviews
    bought_li = reviews.split("Bought it.")[1].split("</li>")[0]
    looked_li = reviews.split("Saw it.")[1].split("</li>")[0]
    assert "Verified purchase" in bought_li
    assert "Verified purchase" not in looked_li
    assert "Rated 4.00 out of 5 (2 reviews)" in html


# -- cart ----------------------------------------------------------------------------------

def test_add_to_cart_makes_a_guest_cart_remembered_by_a_store_scoped_cookie(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    sku = f"C-{tag}"
    made = card(client, org, f"Carted {tag}", tag=tag, variants=[variant(sku, "2.50")],
                stock={sku: 5})
    added = _add(guest, org, made, sku, 2)
    assert added.status_code == 303, added.text
    assert added.headers["location"] == f"/s/{org.slug}/cart"
    cookie = next(c for c in added.headers.get_list("set-cookie")
                  if c.startswith("mercato_cart="))
    assert f"Path=/s/{org.slug}" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    cart_id = cookie.split("=", 1)[1].split(";", 1)[0]

    page = guest.get(f"/s/{org.slug}/cart")
    assert page.status_code == 200
    assert f"Carted {tag}" in page.text
    assert "Added to your cart." in page.text
    assert "$5.00" in page.text
    assert 'class="count">(2' in page.text
    assert f'action="/s/{org.slug}/checkout"><button type="submit" class="primary">Checkout' \
        in page.text
    # the same cart the store API shows: its id is the guest's credential
    shown = client.get(f"/store/v1/{org.slug}/carts/{cart_id}").json()
    assert [(ln["sku"], ln["quantity"]) for ln in shown["lines"]] == [(sku, 2)]
    assert _add(guest, org, made, sku, 1).status_code == 303  # same cart, same line
    shown = client.get(f"/store/v1/{org.slug}/carts/{cart_id}").json()
    assert [(ln["sku"], ln["quantity"]) for ln in shown["lines"]] == [(sku, 3)]


def test_quantity_changes_and_lines_are_removed_and_too_many_is_refused_beside_the_field(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    sku = f"Q-{tag}"
    made = card(client, org, f"Counted {tag}", tag=tag, variants=[variant(sku, "1.00")],
                stock={sku: 3})
    assert _add(guest, org, made, sku).status_code == 303
    page = guest.get(f"/s/{org.slug}/cart").text
    [line_id] = _line_ids(page)
    token = csrf_in(page)

    changed = guest.post(f"/s/{org.slug}/cart/lines/{line_id}",
                         data={"quantity": "3", "csrf_token": token}, follow_redirects=False)
    assert changed.status_code == 303
    page = guest.get(f"/s/{org.slug}/cart").text
    assert 'value="3"' in page
    assert "$3.00" in page
    assert "Quantity updated." in page

    too_many = guest.post(f"/s/{org.slug}/cart/lines/{line_id}",
                          data={"quantity": "9", "csrf_token": token})
    assert too_many.status_code == 422
    assert "only 3 available" in too_many.text
    assert 'aria-invalid="true"' in too_many.text
    assert 'value="3"' in guest.get(f"/s/{org.slug}/cart").text  # unchanged

    removed = guest.post(f"/s/{org.slug}/cart/lines/{line_id}/remove",
                         data={"csrf_token": token}, follow_redirects=False)
    assert removed.status_code == 303
    page = guest.get(f"/s/{org.slug}/cart").text
    assert "Your cart is empty." in page
    assert 'class="count">(0' in page


def test_adding_more_than_the_store_can_sell_reshows_the_product_page_with_the_error(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    sku = f"M-{tag}"
    made = card(client, org, f"Scarce {tag}", tag=tag, variants=[variant(sku)], stock={sku: 1})
    refused = _add(guest, org, made, sku, 5)
    assert refused.status_code == 422
    assert "only 1 available" in refused.text
    assert f"Scarce {tag}" in refused.text
    assert "mercato_cart=" not in refused.headers.get("set-cookie", "")
    assert "Your cart is empty." in guest.get(f"/s/{org.slug}/cart").text


def test_an_unknown_discount_code_is_refused_beside_the_field(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    sku = f"D-{tag}"
    made = card(client, org, f"Coded {tag}", tag=tag, variants=[variant(sku)], stock={sku: 1})
    assert _add(guest, org, made, sku).status_code == 303
    page = guest.get(f"/s/{org.slug}/cart").text
    refused = guest.post(f"/s/{org.slug}/cart/codes",
                         data={"code": "NOPE", "csrf_token": csrf_in(page)})
    assert refused.status_code == 422
    assert 'id="e-code"' in refused.text
    assert '<label for="f-code">Discount code</label>' in \
        refused.text


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    sku = f"X-{tag}"
    made = card(client, org, f"Guarded {tag}", tag=tag, variants=[variant(sku)], stock={sku: 2})
    guest.get(f"/s/{org.slug}/products/{made['slug']}")  # the CSRF cookie is set
    for data in ({"sku": sku}, {"sku": sku, "csrf_token": "forged"}):
        refused = guest.post(f"/s/{org.slug}/cart/lines", data=data, follow_redirects=False)
        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")
    fresh = TestClient(guest.app, raise_server_exceptions=False)  # no cookie at all
    assert fresh.post(f"/s/{org.slug}/cart/lines",
                      data={"sku": sku, "csrf_token": "x"}).status_code == 403
    assert "Your cart is empty." in guest.get(f"/s/{org.slug}/cart").text


def test_the_csrf_cookie_is_scoped_to_the_stores_path(guest: TestClient, org: Org) -> None:
    answer = guest.get(f"/s/{org.slug}/")
    cookie = next(c for c in answer.headers.get_list("set-cookie")
                  if c.startswith("mercato_store_csrf="))
    assert f"Path=/s/{org.slug}" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()


def test_every_storefront_page_weighs_under_100_kb_compressed_and_is_served_gzipped(
        client: TestClient, guest: TestClient, org: Org) -> None:
    tag = _tag()
    sku = f"W-{tag}"
    made = card(client, org, f"Weighed {tag}", tag=tag, variants=[variant(sku)],
                stock={sku: 1})
    assert _add(guest, org, made, sku).status_code == 303
    for path in ("/", "/products", f"/products/{made['slug']}", "/cart", "/checkout",
                 "/account/register", "/account/login", "/account/reset-password"):
        page = guest.get(f"/s/{org.slug}{path}", headers={"Accept-Encoding": "gzip"})
        assert page.status_code == 200, (path, page.status_code)
        assert page.headers.get("content-encoding") == "gzip", path
        assert "<script src" not in page.text  # no script at all: nothing to download or run
        total = page.num_bytes_downloaded
        for asset in re.findall(r'(?:href|src)="(/assets/[^"]+\.(?:css|js|svg))"', page.text):
            total += guest.get(asset, headers={"Accept-Encoding": "gzip"}).num_bytes_downloaded
        assert total < 100_000, f"{path} costs {total} bytes on first load"


def test_a_cart_cookie_naming_another_stores_cart_is_no_cart_here(
        client: TestClient, guest: TestClient, org: Org, other_org: Org) -> None:
    tag = _tag()
    sku = f"T-{tag}"
    theirs = card(client, other_org, f"Theirs {tag}", tag=tag, variants=[variant(sku)],
                  stock={sku: 2})
    assert _add(guest, other_org, theirs, sku).status_code == 303
    their_cart = guest.cookies.get("mercato_cart", path=f"/s/{other_org.slug}")
    assert their_cart
    guest.cookies.set("mercato_cart", their_cart, path=f"/s/{org.slug}")
    page = guest.get(f"/s/{org.slug}/cart")
    assert page.status_code == 200
    assert "Your cart is empty." in page.text
    assert f"Theirs {tag}" not in page.text
    assert 'class="count">(0' in page.text
    cleared = [c for c in page.headers.get_list("set-cookie")  # it was sent, and is cleared
               if c.startswith("mercato_cart=") and "Max-Age=0" in c]
    assert cleared, page.headers.get_list("set-cookie")
