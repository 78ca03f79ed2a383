"""A plan's limits hold: products and staff members past the limit are a 409 ``plan_limit``,
API calls past the limit per minute a 429 ``rate_limited`` with Retry-After; a limit left out
is unlimited, and one organization's limit never touches another."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from mercato.core.db import Database
from mercato.core.errors import ValidationFailed
from mercato.core.ids import new_id
from mercato.settings import Settings
from mercato.tenancy.platform import LIMIT_KEYS, MAX_LIMIT, clean_limits
from tests.catalog.probe_fixtures import make_product
from tests.conftest import PASSWORD, LiveServer, Org
from tests.platform_helpers import operator_headers, set_limits


@pytest.fixture
def ops(client: TestClient, db: Database, settings: Settings) -> dict[str, str]:
    return operator_headers(client, db, settings)


def _product(client: TestClient, org: Org) -> object:
    return client.post("/api/v1/products", headers=org.headers, json={
        "title": "Limited", "product_type": "accessory",
        "variants": [{"sku": f"LIM-{new_id()}", "price": "1.00"}]})


def test_creating_a_product_past_the_plans_limit_is_a_409_plan_limit(
    client: TestClient, ops: dict[str, str], org: Org, other_org: Org
) -> None:
    make_product(client, org)  # installs the type set, and holds one product
    make_product(client, other_org)
    set_limits(client, ops, org.id, products=2)
    set_limits(client, ops, other_org.id, products=1)
    assert _product(client, org).status_code == 201  # type: ignore[attr-defined]
    refused = _product(client, org)
    assert refused.status_code == 409  # type: ignore[attr-defined]
    problem = refused.json()  # type: ignore[attr-defined]
    assert problem["code"] == "plan_limit"
    assert problem["limit"] == 2
    listed = client.get("/api/v1/products", headers=org.headers).json()["data"]
    assert len(listed) == 2  # nothing half-made

    set_limits(client, ops, org.id)  # no limits: unlimited
    assert _product(client, org).status_code == 201  # type: ignore[attr-defined]


def test_adding_a_staff_member_past_the_plans_limit_is_a_409_plan_limit(
    client: TestClient, ops: dict[str, str], org: Org
) -> None:
    set_limits(client, ops, org.id, staff=2)

    def add() -> int:
        return client.post("/api/v1/staff", headers=org.headers, json={
            "email": f"m-{new_id().lower()}@{org.slug}.test", "password": PASSWORD,
            "role": "cashier"}).status_code

    assert add() == 201  # the owner and this one
    refused = client.post("/api/v1/staff", headers=org.headers, json={
        "email": f"m-{new_id().lower()}@{org.slug}.test", "invite": True, "role": "cashier"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "plan_limit"
    set_limits(client, ops, org.id, staff=3)
    assert add() == 201

    # a deactivated member leaves room; bringing them back past the limit is refused
    members = client.get("/api/v1/staff", headers=org.headers).json()["data"]
    cashier = next(m for m in members if m["role"] == "cashier")
    assert client.patch(f"/api/v1/staff/{cashier['id']}", headers=org.headers,
                        json={"is_active": False}).status_code == 200
    assert add() == 201
    back = client.patch(f"/api/v1/staff/{cashier['id']}", headers=org.headers,
                        json={"is_active": True})
    assert back.status_code == 409
    assert back.json()["code"] == "plan_limit"


def test_api_calls_past_the_limit_per_minute_are_a_429_with_retry_after(
    client: TestClient, ops: dict[str, str], org: Org, other_org: Org
) -> None:
    set_limits(client, ops, org.id, api_calls_per_minute=3)
    answers = [client.get("/api/v1/organization", headers=org.headers) for _ in range(7)]
    # at most 3 in each one-minute window, and 7 calls span at most two windows
    assert sum(a.status_code == 200 for a in answers) <= 6
    limited = [a for a in answers if a.status_code != 200]
    assert limited
    for answer in limited:
        assert answer.status_code == 429
        assert answer.json()["code"] == "rate_limited"
        assert 1 <= int(answer.headers["Retry-After"]) <= 61
    assert client.get("/api/v1/organization", headers=other_org.headers).status_code == 200
    set_limits(client, ops, org.id)  # unlimited again; the operator is never limited by it
    assert client.get("/api/v1/organization", headers=org.headers).status_code == 200


def test_products_created_at_once_never_pass_the_limit(
    client: TestClient, live_server: LiveServer, ops: dict[str, str], org: Org
) -> None:
    """Twelve requests at once, room for four: exactly four products, eight clear refusals."""
    make_product(client, org)
    set_limits(client, ops, org.id, products=5)
    start = threading.Barrier(12)

    def create(n: int) -> int:
        with httpx.Client(base_url=live_server.url, timeout=60) as http:
            start.wait()
            return http.post("/api/v1/products", headers=org.headers, json={
                "title": f"Race {n}", "product_type": "accessory",
                "variants": [{"sku": f"RACE-{new_id()}", "price": "1.00"}]}).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(create, range(12)))
    assert sorted(statuses) == [201] * 4 + [409] * 8
    assert len(client.get("/api/v1/products", headers=org.headers).json()["data"]) == 5


@given(st.dictionaries(st.sampled_from(LIMIT_KEYS),
                       st.one_of(st.none(), st.integers(min_value=0, max_value=MAX_LIMIT))))
def test_limits_of_known_keys_and_whole_numbers_are_kept_exactly(limits: dict[str, Any]) -> None:
    assert clean_limits(limits) == {k: v for k, v in limits.items() if v is not None}


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.one_of(
    st.integers(), st.floats(), st.text(max_size=5), st.booleans(), st.none()), min_size=1))
def test_any_other_limit_is_refused_naming_it(limits: dict[str, Any]) -> None:
    valid = all(k in LIMIT_KEYS and (v is None or (type(v) is int and 0 <= v <= MAX_LIMIT))
                for k, v in limits.items())
    if valid:
        assert clean_limits(limits) == {k: v for k, v in limits.items() if v is not None}
        return
    with pytest.raises(ValidationFailed) as refused:
        clean_limits(limits)
    named = {e["field"] for e in refused.value.errors}
    assert named
    assert all(field.startswith("limits.") for field in named)
