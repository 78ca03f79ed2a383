"""Product reviews: signed-in shoppers write one per product (1-5 stars), flagged as a verified
purchase when they bought it; staff approve or reject; shoppers see approved reviews with the
average rating. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mercato.catalog.reviews.models import Review
from mercato.catalog.reviews.service import rating_summary
from mercato.core.db import Database
from mercato.core.ids import new_id
from tests.conftest import LiveServer, Org, staff_token, walk_pages
from tests.orders.helpers import place_order
from tests.storefront_helpers import sign_up, store_url

REVIEWS = "/api/v1/reviews"


def published_product(client: TestClient, org: Org, *, status: str = "active",
                      variants: int = 1) -> dict[str, Any]:
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    tag = new_id()
    response = client.post("/api/v1/products", headers=org.headers, json={
        "title": f"Playmat {tag}", "product_type": "accessory", "status": status,
        "variants": [{"sku": f"REV-{tag}-{i}", "price": "25.00"} for i in range(variants)]})
    assert response.status_code == 201, response.text
    return dict(response.json())


def write_review(client: TestClient, org: Org, slug: str, shopper: dict[str, Any],
                 **body: Any) -> dict[str, Any]:
    response = client.post(store_url(org.slug, f"/products/{slug}/reviews"),
                           headers=shopper["headers"],
                           json={"rating": 5, "body": "Great mat.", **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def moderate(client: TestClient, org: Org, review_id: str, status: str,
             note: str | None = None) -> Any:
    return client.patch(f"{REVIEWS}/{review_id}", headers=org.headers,
                        json={"status": status, **({"note": note} if note else {})})


def public(client: TestClient, org: Org, slug: str, **params: Any) -> dict[str, Any]:
    response = client.get(store_url(org.slug, f"/products/{slug}/reviews"), params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- writing and showing --------------------------------------------------------------------

def test_a_review_is_shown_only_once_approved_with_the_average_rating(
        client: TestClient, org: Org) -> None:
    product = published_product(client, org)
    slug = product["slug"]
    shoppers = [sign_up(client, org.slug, first_name=n, last_name="Smith")
                for n in ("Ann", "Ben", "Cat", "Dan")]
    written = [write_review(client, org, slug, s, rating=r, title=f"{r} stars")
               for s, r in zip(shoppers, (5, 4, 4, 1), strict=True)]
    assert all(w["status"] == "pending" for w in written)
    assert written[0]["author_name"] == "Ann S."
    assert "customer_id" not in written[0]
    empty = public(client, org, slug)
    assert empty["data"] == []
    assert empty["summary"] == {"count": 0, "average_rating": None,
                                "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0}}

    for review in written[:3]:
        moderated = moderate(client, org, review["id"], "approved")
        assert moderated.status_code == 200, moderated.text
    assert moderate(client, org, written[3]["id"], "rejected", "abusive").status_code == 200

    shown = public(client, org, slug)
    assert [r["id"] for r in shown["data"]] == [w["id"] for w in reversed(written[:3])]
    assert shown["summary"] == {"count": 3, "average_rating": 4.33,
                                "distribution": {"1": 0, "2": 0, "3": 0, "4": 2, "5": 1}}
    assert set(shown["data"][0]) == {"id", "rating", "title", "body", "author_name",
                                     "verified_purchase", "created_at", "updated_at"}
    fours = public(client, org, slug, rating=4)
    assert [r["rating"] for r in fours["data"]] == [4, 4]
    paged = walk_pages(client, store_url(org.slug, f"/products/{slug}/reviews"), {}, limit=1)
    assert [r["id"] for r in paged] == [r["id"] for r in shown["data"]]


def test_one_review_per_customer_and_product_then_edit_your_own(
        client: TestClient, org: Org) -> None:
    product = published_product(client, org)
    slug = product["slug"]
    shopper = sign_up(client, org.slug, first_name="Eve")
    first = write_review(client, org, slug, shopper, rating=2)
    assert moderate(client, org, first["id"], "approved").status_code == 200
    again = client.post(store_url(org.slug, f"/products/{slug}/reviews"),
                        headers=shopper["headers"], json={"rating": 5, "body": "Changed mind"})
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    assert again.json()["review_id"] == first["id"]

    mine = store_url(org.slug, f"/me/reviews/{first['id']}")
    assert client.get(mine, headers=shopper["headers"]).json()["status"] == "approved"
    listed = client.get(store_url(org.slug, "/me/reviews"), headers=shopper["headers"])
    assert [r["id"] for r in listed.json()["data"]] == [first["id"]]
    edited = client.patch(mine, headers=shopper["headers"],
                          json={"rating": 5, "body": "It grew on me."})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["rating"], edited.json()["status"]) == (5, "pending")
    assert edited.json()["id"] == first["id"]
    assert public(client, org, slug)["summary"]["count"] == 0  # back in the queue
    staff_view = client.get(f"{REVIEWS}/{first['id']}", headers=org.headers).json()
    assert staff_view["moderated_at"] is None
    assert staff_view["body"] == "It grew on me."

    nulled = client.patch(mine, headers=shopper["headers"], json={"rating": None})
    assert nulled.status_code == 422
    assert nulled.json()["errors"][0]["field"] == "rating"
    assert client.delete(mine, headers=shopper["headers"]).status_code == 204
    assert client.get(mine, headers=shopper["headers"]).status_code == 404
    assert client.get(f"{REVIEWS}/{first['id']}", headers=org.headers).status_code == 404
    write_review(client, org, slug, shopper, rating=3)  # withdrawn: may write anew


def test_a_shopper_cannot_see_change_or_withdraw_another_shoppers_review(
        client: TestClient, org: Org) -> None:
    product = published_product(client, org)
    author, other = sign_up(client, org.slug), sign_up(client, org.slug)
    review = write_review(client, org, product["slug"], author)
    url = store_url(org.slug, f"/me/reviews/{review['id']}")
    assert client.get(url, headers=other["headers"]).status_code == 404
    assert client.patch(url, headers=other["headers"], json={"rating": 1}).status_code == 404
    assert client.delete(url, headers=other["headers"]).status_code == 404
    assert client.get(url).status_code == 401
    assert client.get(store_url(org.slug, "/me/reviews"),
                      headers=other["headers"]).json()["data"] == []
    kept = client.get(url, headers=author["headers"]).json()
    assert (kept["rating"], kept["body"]) == (5, "Great mat.")


def test_verified_purchase_when_the_customer_ordered_a_variant_of_the_product(
        client: TestClient, org: Org) -> None:
    product = published_product(client, org, variants=2)
    slug = product["slug"]
    buyer = sign_up(client, org.slug)
    place_order(client, org, [(product["variants"][1]["sku"], 1)],
                customer={"email": buyer["email"]})
    other_product = published_product(client, org)
    browser = sign_up(client, org.slug)
    place_order(client, org, [(other_product["variants"][0]["sku"], 1)],
                customer={"email": browser["email"]})
    regretful = sign_up(client, org.slug)
    cancelled = place_order(client, org, [(product["variants"][0]["sku"], 1)],
                            customer={"email": regretful["email"]})
    assert client.post(f"/api/v1/orders/{cancelled['id']}/cancel", headers=org.headers,
                       json={}).status_code == 200

    assert write_review(client, org, slug, buyer)["verified_purchase"] is True
    assert write_review(client, org, slug, browser)["verified_purchase"] is False
    assert write_review(client, org, slug, regretful)["verified_purchase"] is False
    verified = client.get(REVIEWS, headers=org.headers,
                          params={"product_id": product["id"], "verified": "true"}).json()
    assert [r["customer_id"] for r in verified["data"]] == [buyer["customer_id"]]


def test_writing_needs_a_signed_in_customer_and_a_published_product(
        client: TestClient, org: Org, other_org: Org) -> None:
    product = published_product(client, org)
    url = store_url(org.slug, f"/products/{product['slug']}/reviews")
    body = {"rating": 5, "body": "Nice"}
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, headers=org.headers, json=body).status_code == 401  # staff token
    stranger = sign_up(client, other_org.slug)  # a customer of another store
    assert client.post(url, headers=stranger["headers"], json=body).status_code == 401
    shopper = sign_up(client, org.slug)
    draft = published_product(client, org, status="draft")
    for slug in (draft["slug"], "no-such-product"):
        missing = client.post(store_url(org.slug, f"/products/{slug}/reviews"),
                              headers=shopper["headers"], json=body)
        assert missing.status_code == 404
        assert missing.json()["code"] == "not_found"
        assert client.get(store_url(org.slug, f"/products/{slug}/reviews")).status_code == 404
    theirs = client.get(store_url(other_org.slug, f"/products/{product['slug']}/reviews"))
    assert theirs.status_code == 404


def test_bad_ratings_and_bodies_are_422_naming_the_field_and_change_nothing(
        client: TestClient, org: Org) -> None:
    product = published_product(client, org)
    url = store_url(org.slug, f"/products/{product['slug']}/reviews")
    shopper = sign_up(client, org.slug)
    for body, field in [({"rating": 0, "body": "x"}, "rating"),
                        ({"rating": 6, "body": "x"}, "rating"),
                        ({"rating": 4.5, "body": "x"}, "rating"),
                        ({"rating": "5", "body": "x"}, "rating"),
                        ({"rating": True, "body": "x"}, "rating"),
                        ({"rating": 5, "body": "   "}, "body"),
                        ({"rating": 5}, "body"),
                        ({"rating": 5, "body": "x" * 5001}, "body"),
                        ({"rating": 5, "body": "x", "status": "approved"}, "status")]:
        response = client.post(url, headers=shopper["headers"], json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, (body, response.json())
    listed = client.get(REVIEWS, headers=org.headers, params={"product_id": product["id"]})
    assert listed.json()["data"] == []


# -- moderation -----------------------------------------------------------------------------

def test_moderation_records_who_when_and_why_and_honours_if_match(
        client: TestClient, org: Org) -> None:
    product = published_product(client, org)
    review = write_review(client, org, product["slug"], sign_up(client, org.slug))
    url = f"{REVIEWS}/{review['id']}"
    fetched = client.get(url, headers=org.headers)
    etag = fetched.headers["ETag"]
    queue = client.get(REVIEWS, headers=org.headers, params={"status": "pending",
                                                             "product_id": product["id"]})
    assert [r["id"] for r in queue.json()["data"]] == [review["id"]]

    approved = client.patch(url, headers={**org.headers, "If-Match": etag},
                            json={"status": "approved", "note": "fine"})
    assert approved.status_code == 200, approved.text
    out = approved.json()
    assert (out["status"], out["moderation_note"], out["moderated_by"]) == (
        "approved", "fine", org.owner_id)
    assert out["moderated_at"] is not None
    assert approved.headers["ETag"] != etag
    stale = client.patch(url, headers={**org.headers, "If-Match": etag},
                         json={"status": "rejected"})
    assert stale.status_code == 412
    assert client.get(url, headers=org.headers).json()["status"] == "approved"
    bad = client.patch(url, headers=org.headers, json={"status": "published"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "status"

    assert client.delete(url, headers=org.headers).status_code == 204
    assert client.get(url, headers=org.headers).status_code == 404
    assert public(client, org, product["slug"])["summary"]["count"] == 0


def test_moderating_needs_reviews_moderate(client: TestClient, org: Org,
                                           other_org: Org) -> None:
    product = published_product(client, org)
    review = write_review(client, org, product["slug"], sign_up(client, org.slug))
    cashier = {"Authorization": f"Bearer {staff_token(client, org, 'cashier')}"}
    denied = client.patch(f"{REVIEWS}/{review['id']}", headers=cashier,
                          json={"status": "approved"})
    assert denied.status_code == 403
    assert denied.json()["missing_permissions"] == ["reviews:moderate"]
    assert client.get(REVIEWS, headers=cashier).status_code == 403
    assert client.get(f"{REVIEWS}/{review['id']}",
                      headers=other_org.headers).status_code == 404
    assert client.delete(f"{REVIEWS}/{review['id']}",
                         headers=other_org.headers).status_code == 404


# -- invariants and concurrency -------------------------------------------------------------

@pytest.fixture
def product_id(client: TestClient, org: Org) -> str:
    return str(published_product(client, org)["id"])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(reviews=st.lists(st.tuples(st.integers(1, 5),
                                  st.sampled_from(["pending", "approved", "rejected"])),
                        max_size=30))
def test_summary_counts_approved_reviews_and_averages_them_exactly(
        db: Database, org: Org, product_id: str, reviews: list[tuple[int, str]]) -> None:
    session = db.session(tenant=org.id)
    try:
        session.add_all([Review(product_id=product_id, customer_id=new_id(), author_name="A",
                                rating=rating, body="b", status=status,
                                verified_purchase=False) for rating, status in reviews])
        session.flush()
        summary = rating_summary(session, product_id)
    finally:
        session.rollback()
        session.close()
    approved = [rating for rating, status in reviews if status == "approved"]
    assert summary.count == len(approved)
    assert summary.distribution == {str(s): approved.count(s) for s in range(1, 6)}
    expected = (Decimal(sum(approved)) / len(approved)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_EVEN) if approved else None
    assert summary.average_rating == expected


def test_the_same_shopper_submitting_twenty_times_at_once_makes_one_review(
        live_server: LiveServer, client: TestClient, org: Org) -> None:
    product = published_product(client, org)
    shopper = sign_up(client, org.slug)
    url = f"{live_server.url}{store_url(org.slug, '/products/' + product['slug'] + '/reviews')}"
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            response = http.post(url, headers=shopper["headers"],
                                 json={"rating": 1 + n % 5, "body": f"take {n}"})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert Counter(statuses) == {201: 1, 409: 19}, Counter(statuses)
    listed = client.get(REVIEWS, headers=org.headers, params={"product_id": product["id"]})
    assert len(listed.json()["data"]) == 1
