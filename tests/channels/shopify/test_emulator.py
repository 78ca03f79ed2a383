"""The Shopify emulator speaks the GraphQL Admin API over real HTTP: auth, versions, cost and
throttling, pagination, compare-and-set and idempotent inventory mutations, bulk queries,
products, orders and fulfilments, and signed webhooks with retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from mercato_emulators.shopify import ShopifyEmulator, create_app
from mercato_emulators.shopify.model import Order
from tests.conftest import LiveServer

TOKEN = "shpat_test_token"
SECRET = "shpss_test_client_secret"
VERSION = "2026-04"

SET_QUANTITIES = """
mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id reason changes { name delta quantityAfterChange } }
    userErrors { field message code }
  }
}"""

ADJUST_QUANTITIES = """
mutation Adjust($input: InventoryAdjustQuantitiesInput!, $key: String!) {
  inventoryAdjustQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id changes { name delta quantityAfterChange } }
    userErrors { field message code }
  }
}"""


class ShopServer:
    """The emulator behind uvicorn on a thread, with its state at hand."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("access_token", TOKEN)
        options.setdefault("client_secret", SECRET)
        options.setdefault("webhook_retry_delays", [0.05, 0.1, 0.2])
        self.state = ShopifyEmulator(**options)
        self.app = create_app(self.state)
        self.live = LiveServer(self.app)
        self.url = self.live.url

    def __enter__(self) -> ShopServer:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(*exc)
        self.state.close()

    def post(self, query: str, variables: dict[str, Any] | None = None, *,
             version: str = VERSION, token: str = TOKEN) -> httpx.Response:
        return httpx.post(f"{self.url}/admin/api/{version}/graphql.json",
                          json={"query": query, "variables": variables or {}},
                          headers={"X-Shopify-Access-Token": token}, timeout=10)

    def data(self, query: str, variables: dict[str, Any] | None = None, *,
             version: str = VERSION) -> dict[str, Any]:
        """The ``data`` of a request that must succeed without errors."""
        response = self.post(query, variables, version=version)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return dict(body["data"])


@pytest.fixture
def shop() -> Iterator[ShopServer]:
    with ShopServer() as server:
        yield server


@dataclass
class Hook:
    headers: dict[str, str]
    body: bytes

    @property
    def topic(self) -> str:
        return self.headers["x-shopify-topic"]

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A webhook endpoint that records what arrives; it answers 500 to the first
    ``failures`` requests."""

    failures: int = 0
    hooks: list[Hook] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hooks")
        async def hooks(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.hooks.append(Hook(dict(request.headers), body))
                failing = len(self.hooks) <= self.failures
            return JSONResponse({}, status_code=500 if failing else 200)

        @app.get("/health")
        def health() -> dict[str, str]:
            return {"status": "ok"}

        return app

    def of(self, topic: str) -> list[Hook]:
        with self.lock:
            return [hook for hook in self.hooks if hook.topic == topic]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    endpoint = Receiver()
    with LiveServer(endpoint.app()) as server:
        yield endpoint, f"{server.url}/hooks"


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def sku_item(server: ShopServer, sku: str) -> str:
    variant = server.state.variant_by_sku(sku)
    assert variant is not None
    return server.state.item_of(variant).gid


def location_id(server: ShopServer) -> str:
    return server.state.first_location().gid


# -- transport, auth, versions, errors -------------------------------------------------------------

def test_a_wrong_access_token_is_refused_with_401(shop: ShopServer) -> None:
    response = shop.post("{ shop { id } }", token="shpat_wrong")
    assert response.status_code == 401
    assert response.json() == {"errors": "[API] Invalid API key or access token "
                                         "(unrecognized login or wrong password)"}


def test_an_unsupported_api_version_is_404(shop: ShopServer) -> None:
    response = shop.post("{ shop { id } }", version="2023-01")
    assert response.status_code == 404
    assert response.json() == {"errors": "Not Found"}


def test_shop_and_locations_answer_with_gids_and_the_requested_cost(shop: ShopServer) -> None:
    body = shop.post("{ shop { id name myshopifyDomain currencyCode } "
                     "locations(first: 5) { edges { node { id name isActive } } } }").json()
    assert body["data"]["shop"]["myshopifyDomain"] == "demo-shop.myshopify.com"
    assert body["data"]["shop"]["id"].startswith("gid://shopify/Shop/")
    nodes = [edge["node"] for edge in body["data"]["locations"]["edges"]]
    assert [n["name"] for n in nodes] == ["Shop location"]
    assert nodes[0]["id"].startswith("gid://shopify/Location/")
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 1 + 2 + 5  # shop, connection, five location nodes
    assert cost["actualQueryCost"] == 1 + 2 + 1
    assert cost["throttleStatus"]["maximumAvailable"] == 2000
    assert cost["throttleStatus"]["restoreRate"] == 100


def test_requested_cost_multiplies_nested_connections_by_first(shop: ShopServer) -> None:
    body = shop.post("{ products(first: 10) { edges { node { id "
                     "variants(first: 5) { nodes { id sku } } } } } }").json()
    assert body["extensions"]["cost"]["requestedQueryCost"] == 2 + 10 * (1 + 2 + 5)


def test_syntax_and_validation_errors_have_codes_and_a_cost(shop: ShopServer) -> None:
    broken = shop.post("{ shop { id ").json()
    unknown = shop.post("{ shop { id notAField } }").json()
    assert broken["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert "notAField" in unknown["errors"][0]["message"]
    assert unknown["errors"][0]["locations"] == [{"line": 1, "column": 13}]
    for body in (broken, unknown):
        assert "data" not in body
        assert body["extensions"]["cost"]["requestedQueryCost"] == 0


def test_fields_and_directives_of_later_versions_are_refused_on_2025_10(
        shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 3}])
    directive = shop.post(SET_QUANTITIES, {"input": set_input(shop, ("A", 1, 3)), "key": "k"},
                          version="2025-10").json()
    field = shop.post(LEGACY_SET, {"input": set_input(shop, ("A", 1, 3))},
                      version="2025-10").json()
    assert "idempotent" in directive["errors"][0]["message"]
    assert "changeFromQuantity" in field["errors"][0]["message"]
    assert shop.state.available(sku_item(shop, "A")) == 3


# -- cost and throttling -------------------------------------------------------------------------

def test_a_drained_bucket_throttles_without_executing_then_refills() -> None:
    with ShopServer(bucket_size=50, restore_rate=20) as shop:
        for n in range(23):
            shop.state.add_product(f"Card {n}", variants=[{"sku": f"C{n}", "price": "1"}])
        query = "{ products(first: 23) { nodes { id } } }"  # costs 25, and all of it is used
        assert "errors" not in shop.post(query).json()
        assert "errors" not in shop.post(query).json()
        throttled = shop.post(query)  # the bucket refilled less than 25 points since
        assert throttled.status_code == 200
        body = throttled.json()
        assert body["errors"] == [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
        assert "data" not in body
        assert body["extensions"]["cost"]["requestedQueryCost"] == 25
        assert body["extensions"]["cost"]["actualQueryCost"] is None
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 25
        assert shop.state.throttled == 1
        deadline = time.monotonic() + 10
        while (answer := shop.post(query).json()).get("errors"):  # until it has refilled
            assert answer["errors"][0]["extensions"]["code"] == "THROTTLED"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert len(answer["data"]["products"]["nodes"]) == 23
        assert shop.state.requests == shop.state.throttled + 3


def test_throttling_can_answer_429() -> None:
    with ShopServer(bucket_size=5, restore_rate=1, throttle_status=429) as shop:
        response = shop.post("{ products(first: 10) { nodes { id } } }")
        assert response.status_code == 429
        assert response.json()["errors"][0]["extensions"]["code"] == "THROTTLED"


def test_a_query_over_1000_points_is_refused_before_it_runs(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1"}])
    body = shop.post("{ products(first: 250) { nodes { id "
                     "variants(first: 250) { nodes { id } } } } }").json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["extensions"]["cost"]["requestedQueryCost"] == 2 + 250 * (1 + 2 + 250)
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 2000


# -- pagination and search -----------------------------------------------------------------------

def test_600_products_page_by_page_with_first_and_after(shop: ShopServer) -> None:
    for n in range(600):
        shop.state.add_product(f"Card {n:03}", variants=[{"sku": f"SKU-{n:03}", "price": "1"}])
    query = """query($after: String) { products(first: 250, after: $after) {
        edges { cursor node { handle } } pageInfo { hasNextPage endCursor } } }"""
    handles: list[str] = []
    pages = 0
    after = None
    while True:
        page = shop.data(query, {"after": after})["products"]
        pages += 1
        handles += [edge["node"]["handle"] for edge in page["edges"]]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert handles == [f"card-{n:03}" for n in range(600)]


def test_first_is_required_and_capped_at_250(shop: ShopServer) -> None:
    missing = shop.post("{ products { nodes { id } } }").json()
    too_many = shop.post("{ products(first: 251) { nodes { id } } }").json()
    assert missing["errors"][0]["message"] == "you must provide one of first or last"
    assert missing["errors"][0]["path"] == ["products"]
    assert "250" in too_many["errors"][0]["message"]


class Clock:
    """A clock the test moves, since Shopify's timestamps have whole seconds."""

    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> str:
        self.now += timedelta(seconds=seconds)
        return self.now.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_variants_are_found_by_sku_and_by_updated_at() -> None:
    clock = Clock()
    with ShopServer(clock=clock) as shop:
        shop.state.add_product("Old", variants=[{"sku": "OLD-1", "price": "1"}])
        since = clock.advance(60)
        shop.state.add_product("New", variants=[{"sku": "NEW-1", "price": "2.5"}])
        query = """query($q: String) { productVariants(first: 10, query: $q) {
            nodes { sku price } } }"""
        by_sku = shop.data(query, {"q": "sku:NEW-1"})["productVariants"]["nodes"]
        recent = shop.data(query, {"q": f"updated_at:>='{since}'"})["productVariants"]["nodes"]
    assert by_sku == [{"sku": "NEW-1", "price": "2.50"}]
    assert [v["sku"] for v in recent] == ["NEW-1"]


def test_orders_sort_by_updated_at_and_filter_on_it() -> None:
    clock = Clock()
    with ShopServer(clock=clock) as shop:
        shop.state.add_product("Card", variants=[{"sku": "A", "price": "3", "available": 10}])
        first = shop.state.place_order([{"sku": "A", "quantity": 1}])
        clock.advance(1)
        second = shop.state.place_order([{"sku": "A", "quantity": 1}])
        since = clock.advance(60)
        shop.state.cancel_order(first["id"])  # touches the first order again
        query = """query($q: String) { orders(first: 10, sortKey: UPDATED_AT, query: $q) {
            nodes { name updatedAt cancelledAt } } }"""
        everything = shop.data(query)["orders"]["nodes"]
        changed = shop.data(query, {"q": f"updated_at:>='{since}'"})["orders"]["nodes"]
    assert [o["name"] for o in everything] == [second["name"], first["name"]]
    assert [o["name"] for o in changed] == [first["name"]]
    assert changed[0]["updatedAt"] == since
    assert changed[0]["cancelledAt"] == since


def test_nodes_reads_inventory_levels_of_many_items(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 4},
                                             {"sku": "B", "price": "1", "available": 9}])
    query = """query($ids: [ID!]!, $loc: ID!) { nodes(ids: $ids) { ... on InventoryItem {
        id inventoryLevel(locationId: $loc) { quantities(names: ["available", "on_hand"]) {
        name quantity } } } } }"""
    ids = [sku_item(shop, "A"), sku_item(shop, "B")]
    nodes = shop.data(query, {"ids": ids, "loc": location_id(shop)})["nodes"]
    assert [n["id"] for n in nodes] == ids
    assert [n["inventoryLevel"]["quantities"] for n in nodes] == [
        [{"name": "available", "quantity": 4}, {"name": "on_hand", "quantity": 4}],
        [{"name": "available", "quantity": 9}, {"name": "on_hand", "quantity": 9}]]


# -- inventory: compare-and-set and idempotency ----------------------------------------------------

def set_input(shop: ShopServer, *quantities: tuple[str, int, Any], name: str = "available",
              field_name: str = "changeFromQuantity") -> dict[str, Any]:
    rows = []
    for sku, quantity, expected in quantities:
        row = {"inventoryItemId": sku_item(shop, sku), "locationId": location_id(shop),
               "quantity": quantity}
        if expected != "absent":
            row[field_name] = expected
        rows.append(row)
    return {"name": name, "reason": "correction",
            "referenceDocumentUri": "mercato://sync/1", "quantities": rows}


def test_set_quantities_with_current_change_from_quantity_applies(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 3}])
    result = shop.data(SET_QUANTITIES, {"input": set_input(shop, ("A", 7, 3)),
                                        "key": "k-1"})["inventorySetQuantities"]
    assert result["userErrors"] == []
    assert result["inventoryAdjustmentGroup"]["changes"] == [
        {"name": "available", "delta": 4, "quantityAfterChange": 7},
        {"name": "on_hand", "delta": 4, "quantityAfterChange": 7}]
    assert shop.state.available(sku_item(shop, "A")) == 7


def test_one_stale_change_from_quantity_applies_nothing(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 3},
                                             {"sku": "B", "price": "1", "available": 5}])
    result = shop.data(SET_QUANTITIES, {
        "input": set_input(shop, ("A", 10, 3), ("B", 10, 4)), "key": "k-2",
    })["inventorySetQuantities"]
    assert result["inventoryAdjustmentGroup"] is None
    assert result["userErrors"] == [{
        "field": ["input", "quantities", "1", "changeFromQuantity"],
        "message": "The changeFromQuantity value does not match persisted value.",
        "code": "CHANGE_FROM_QUANTITY_STALE"}]
    assert shop.state.available(sku_item(shop, "A")) == 3
    assert shop.state.available(sku_item(shop, "B")) == 5


def test_null_change_from_quantity_skips_the_check(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 3}])
    result = shop.data(SET_QUANTITIES, {"input": set_input(shop, ("A", 1, None)),
                                        "key": "k-3"})["inventorySetQuantities"]
    assert result["userErrors"] == []
    assert shop.state.available(sku_item(shop, "A")) == 1


def test_change_from_quantity_must_be_present_from_2026_04(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 3}])
    result = shop.data(SET_QUANTITIES, {"input": set_input(shop, ("A", 1, "absent")),
                                        "key": "k-4"})["inventorySetQuantities"]
    assert result["inventoryAdjustmentGroup"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [
        (["input", "quantities", "0", "changeFromQuantity"], "INVALID")]
    assert shop.state.available(sku_item(shop, "A")) == 3


def test_change_from_quantity_may_be_absent_on_2026_01(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 3}])
    result = shop.data(SET_QUANTITIES, {"input": set_input(shop, ("A", 2, "absent")),
                                        "key": "k-5"}, version="2026-01")
    assert result["inventorySetQuantities"]["userErrors"] == []
    assert shop.state.available(sku_item(shop, "A")) == 2


LEGACY_SET = """mutation($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { id } userErrors { field message code } } }"""


def test_compare_quantity_guards_sets_on_2025_10(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 3}])
    item = sku_item(shop, "A")

    def run(inp: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = shop.data(LEGACY_SET, {"input": inp},
                                           version="2025-10")["inventorySetQuantities"]
        return result

    stale = run(set_input(shop, ("A", 9, 2), field_name="compareQuantity"))
    missing = run(set_input(shop, ("A", 9, "absent"), field_name="compareQuantity"))
    assert [e["code"] for e in stale["userErrors"]] == ["COMPARE_QUANTITY_STALE"]
    assert [e["code"] for e in missing["userErrors"]] == ["COMPARE_QUANTITY_REQUIRED"]
    assert shop.state.available(item) == 3
    current = run(set_input(shop, ("A", 9, 3), field_name="compareQuantity"))
    assert current["userErrors"] == []
    assert shop.state.available(item) == 9
    ignored = run({**set_input(shop, ("A", 4, "absent")), "ignoreCompareQuantity": True})
    assert ignored["userErrors"] == []
    assert shop.state.available(item) == 4


def test_idempotent_replay_returns_the_first_result_and_applies_once(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 3}])
    adjust = {"name": "available", "reason": "received", "changes": [{
        "inventoryItemId": sku_item(shop, "A"), "locationId": location_id(shop), "delta": 5,
        "changeFromQuantity": None}]}
    first = shop.data(ADJUST_QUANTITIES, {"input": adjust, "key": "same"})
    again = shop.data(ADJUST_QUANTITIES, {"input": adjust, "key": "same"})
    assert again == first
    assert shop.state.available(sku_item(shop, "A")) == 8
    other = shop.data(ADJUST_QUANTITIES, {"input": {**adjust, "reason": "restock"},
                                          "key": "same"})["inventoryAdjustQuantities"]
    assert other["inventoryAdjustmentGroup"] is None
    assert [e["code"] for e in other["userErrors"]] == ["IDEMPOTENCY_KEY_PARAMETER_MISMATCH"]
    assert shop.state.available(sku_item(shop, "A")) == 8


def test_twenty_concurrent_identical_requests_apply_once(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 0}])
    adjust = {"name": "available", "reason": "received", "changes": [{
        "inventoryItemId": sku_item(shop, "A"), "locationId": location_id(shop), "delta": 1,
        "changeFromQuantity": None}]}
    start = threading.Barrier(20)

    def send(_: int) -> dict[str, Any]:
        start.wait()
        return shop.data(ADJUST_QUANTITIES, {"input": adjust, "key": "burst"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(send, range(20)))
    ids = {a["inventoryAdjustQuantities"]["inventoryAdjustmentGroup"]["id"] for a in answers}
    assert len(ids) == 1
    assert shop.state.available(sku_item(shop, "A")) == 1
    logged = [name for name, _ in shop.state.mutation_log]
    assert logged == ["inventoryAdjustQuantities"] * 20


def test_a_missing_idempotent_directive_is_refused_from_2026_04(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 3}])
    bare = SET_QUANTITIES.replace(" @idempotent(key: $key)", "").replace(", $key: String!", "")
    body = shop.post(bare, {"input": set_input(shop, ("A", 1, 3))}).json()
    assert body["data"] == {"inventorySetQuantities": None}
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert body["errors"][0]["path"] == ["inventorySetQuantities"]
    assert shop.state.available(sku_item(shop, "A")) == 3
    allowed = shop.data(bare, {"input": set_input(shop, ("A", 1, 3))}, version="2026-01")
    assert allowed["inventorySetQuantities"]["userErrors"] == []


def test_unknown_items_and_negative_quantities_are_user_errors(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 3}])
    inp = set_input(shop, ("A", -1, 3))
    inp["quantities"].append({"inventoryItemId": "gid://shopify/InventoryItem/999999",
                              "locationId": location_id(shop), "quantity": 1,
                              "changeFromQuantity": None})
    result = shop.data(SET_QUANTITIES, {"input": inp, "key": "k-6"})["inventorySetQuantities"]
    assert [e["code"] for e in result["userErrors"]] == ["INVALID_QUANTITY_NEGATIVE",
                                                         "INVALID_INVENTORY_ITEM"]
    assert shop.state.available(sku_item(shop, "A")) == 3


# -- bulk operations -----------------------------------------------------------------------------

BULK_QUERY = """{ products { edges { node { id title
    variants { edges { node { id sku inventoryItem { id } } } } } } } }"""
RUN_BULK = """mutation($q: String!) { bulkOperationRunQuery(query: $q) {
    bulkOperation { id status } userErrors { field message code } } }"""


def test_a_bulk_query_writes_jsonl_with_parent_ids(
        receiver: tuple[Receiver, str]) -> None:
    endpoint, url = receiver
    with ShopServer(bulk_delay=0.3) as shop:
        shop.state.subscribe("BULK_OPERATIONS_FINISH", url)
        lotus = shop.state.add_product("Lotus", variants=[{"sku": "L-NM", "price": "9"},
                                                          {"sku": "L-LP", "price": "7"}])
        mox = shop.state.add_product("Mox", variants=[{"sku": "M-NM", "price": "5"}])
        started = shop.data(RUN_BULK, {"q": BULK_QUERY})["bulkOperationRunQuery"]
        assert started["userErrors"] == []
        assert started["bulkOperation"]["status"] == "CREATED"
        busy = shop.data(RUN_BULK, {"q": BULK_QUERY})["bulkOperationRunQuery"]
        assert [e["code"] for e in busy["userErrors"]] == ["OPERATION_IN_PROGRESS"]
        poll = """query($id: ID!) { bulkOperation(id: $id) { id status objectCount
            rootObjectCount url } }"""
        op_id = started["bulkOperation"]["id"]

        def completed() -> bool:
            status = shop.data(poll, {"id": op_id})["bulkOperation"]["status"]
            return bool(status == "COMPLETED")

        wait_until(completed)  # (that it ran meanwhile: OPERATION_IN_PROGRESS above)
        op = shop.data(poll, {"id": op_id})["bulkOperation"]
        assert op["objectCount"] == "5"
        assert op["rootObjectCount"] == "2"
        lines = [json.loads(line) for line in httpx.get(op["url"]).text.splitlines()]
        assert lines == [
            {"id": lotus["id"], "title": "Lotus"},
            {"id": lotus["variants"][0]["id"], "sku": "L-NM",
             "inventoryItem": {"id": lotus["variants"][0]["inventory_item_id"]},
             "__parentId": lotus["id"]},
            {"id": lotus["variants"][1]["id"], "sku": "L-LP",
             "inventoryItem": {"id": lotus["variants"][1]["inventory_item_id"]},
             "__parentId": lotus["id"]},
            {"id": mox["id"], "title": "Mox"},
            {"id": mox["variants"][0]["id"], "sku": "M-NM",
             "inventoryItem": {"id": mox["variants"][0]["inventory_item_id"]},
             "__parentId": mox["id"]}]
        current = shop.data("{ currentBulkOperation { id status } }")
        assert current["currentBulkOperation"] == {"id": op_id, "status": "COMPLETED"}
        assert shop.state.wait_for_deliveries()
        finished = endpoint.of("bulk_operations/finish")
        assert [h.payload["admin_graphql_api_id"] for h in finished] == [op_id]
        assert finished[0].payload["status"] == "completed"


def test_a_failed_bulk_query_reports_failed_without_a_url(shop: ShopServer) -> None:
    shop.state.fail_next_bulk_operation = True
    started = shop.data(RUN_BULK, {"q": BULK_QUERY})["bulkOperationRunQuery"]
    poll = "query($id: ID!) { bulkOperation(id: $id) { status errorCode url } }"
    op_id = started["bulkOperation"]["id"]

    def finished() -> bool:
        status = shop.data(poll, {"id": op_id})["bulkOperation"]["status"]
        return bool(status not in ("CREATED", "RUNNING"))

    wait_until(finished)
    assert shop.data(poll, {"id": op_id})["bulkOperation"] == {
        "status": "FAILED", "errorCode": "INTERNAL_SERVER_ERROR", "url": None}


# -- webhooks ------------------------------------------------------------------------------------

def test_webhooks_are_signed_and_retried_with_the_same_webhook_id(
        shop: ShopServer, receiver: tuple[Receiver, str]) -> None:
    endpoint, url = receiver
    endpoint.failures = 1
    shop.state.subscribe("products/update", url)
    product = shop.state.add_product("Card", variants=[{"sku": "A", "price": "1"}])
    shop.state.update_product(product["id"], prices={"A": "2.25"})
    assert shop.state.wait_for_deliveries()
    hooks = endpoint.of("products/update")
    assert len(hooks) == 2
    assert hooks[0].headers["x-shopify-webhook-id"] == hooks[1].headers["x-shopify-webhook-id"]
    assert hooks[0].body == hooks[1].body
    for hook in hooks:
        digest = hmac.new(SECRET.encode(), hook.body, hashlib.sha256).digest()
        assert hook.headers["x-shopify-hmac-sha256"] == base64.b64encode(digest).decode()
        assert hook.headers["x-shopify-shop-domain"] == "demo-shop.myshopify.com"
        assert hook.headers["x-shopify-api-version"] == "2026-10"
        assert hook.headers["x-shopify-event-id"]
        assert hook.headers["x-shopify-triggered-at"]
    assert hooks[0].payload["variants"][0]["price"] == "2.25"
    attempts = [(d.topic, d.status, d.attempt) for d in shop.state.deliveries]
    assert attempts == [("products/update", 500, 1), ("products/update", 200, 2)]


def test_duplicate_delivery_repeats_the_webhook_id(receiver: tuple[Receiver, str]) -> None:
    endpoint, url = receiver
    with ShopServer(deliver_duplicates=True) as shop:
        shop.state.subscribe("PRODUCTS_CREATE", url)
        shop.state.add_product("Card", variants=[{"sku": "A", "price": "1"}])
        assert shop.state.wait_for_deliveries()
    hooks = endpoint.of("products/create")
    assert len(hooks) == 2
    assert hooks[0].headers["x-shopify-webhook-id"] == hooks[1].headers["x-shopify-webhook-id"]


def test_webhook_subscriptions_are_created_listed_and_deleted(shop: ShopServer) -> None:
    create = """mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
        webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
        webhookSubscription { id topic uri callbackUrl format } userErrors { field message } } }"""
    sub = {"callbackUrl": "https://mercato.test/hooks/shopify", "format": "JSON"}
    made = shop.data(create, {"topic": "ORDERS_CREATE", "sub": sub})["webhookSubscriptionCreate"]
    assert made["userErrors"] == []
    assert made["webhookSubscription"]["topic"] == "ORDERS_CREATE"
    assert made["webhookSubscription"]["uri"] == sub["callbackUrl"]
    assert made["webhookSubscription"]["callbackUrl"] == sub["callbackUrl"]
    again = shop.data(create, {"topic": "ORDERS_CREATE", "sub": sub})["webhookSubscriptionCreate"]
    assert again["userErrors"][0]["message"] == "Address for this topic has already been taken"
    listed = shop.data("{ webhookSubscriptions(first: 10) { nodes { id topic } } }")
    assert listed["webhookSubscriptions"]["nodes"] == [
        {"id": made["webhookSubscription"]["id"], "topic": "ORDERS_CREATE"}]
    deleted = shop.data("mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { "
                        "deletedWebhookSubscriptionId userErrors { message } } }",
                        {"id": made["webhookSubscription"]["id"]})
    assert deleted["webhookSubscriptionDelete"]["deletedWebhookSubscriptionId"] == \
        made["webhookSubscription"]["id"]
    assert shop.data("{ webhookSubscriptions(first: 10) { nodes { id } } }") == {
        "webhookSubscriptions": {"nodes": []}}


# -- orders and fulfilments ----------------------------------------------------------------------

def test_place_order_decrements_stock_and_sends_orders_create(
        shop: ShopServer, receiver: tuple[Receiver, str]) -> None:
    endpoint, url = receiver
    create = """mutation($sub: WebhookSubscriptionInput!) {
        webhookSubscriptionCreate(topic: ORDERS_CREATE, webhookSubscription: $sub) {
        userErrors { message } } }"""
    shop.data(create, {"sub": {"uri": url}})
    shop.state.subscribe("INVENTORY_LEVELS_UPDATE", url)
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "4.50", "available": 1}])
    order = shop.state.place_order([{"sku": "A", "quantity": 2}], email="ann@example.test")
    assert shop.state.available(sku_item(shop, "A")) == -1  # the oversell shows
    assert shop.state.wait_for_deliveries()
    [hook] = endpoint.of("orders/create")
    assert hook.payload["id"] == order["id"]
    assert hook.payload["name"] == "#1001"
    assert hook.payload["total_price"] == "9.00"
    assert hook.payload["financial_status"] == "paid"
    assert hook.payload["fulfillment_status"] is None
    assert [(li["sku"], li["quantity"], li["price"]) for li in hook.payload["line_items"]] == [
        ("A", 2, "4.50")]
    [level] = endpoint.of("inventory_levels/update")
    assert level.payload["available"] == -1
    assert level.payload["inventory_item_id"] == int(sku_item(shop, "A").rsplit("/", 1)[1])


ORDER_QUERY = """query($id: ID!) { order(id: $id) { id displayFulfillmentStatus
    fulfillmentOrders(first: 5) { edges { node { id status lineItems(first: 5) { edges {
    node { id remainingQuantity totalQuantity lineItem { id sku } } } } } } }
    fulfillments { id status trackingInfo { company number } } } }"""
FULFILL = """mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) {
    fulfillment { id status trackingInfo { company number } } userErrors { field message } } }"""


def test_fulfillment_create_reduces_remaining_and_updates_the_order(
        shop: ShopServer, receiver: tuple[Receiver, str]) -> None:
    endpoint, url = receiver
    shop.state.subscribe("ORDERS_UPDATED", url)
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 5}])
    order = shop.state.place_order([{"sku": "A", "quantity": 3}])
    gid = order["admin_graphql_api_id"]
    fo = shop.data(ORDER_QUERY, {"id": gid})["order"]["fulfillmentOrders"]["edges"][0]["node"]
    fo_line = fo["lineItems"]["edges"][0]["node"]
    assert (fo_line["remainingQuantity"], fo_line["totalQuantity"]) == (3, 3)
    made = shop.data(FULFILL, {"f": {
        "lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo["id"],
                                         "fulfillmentOrderLineItems": [
                                             {"id": fo_line["id"], "quantity": 2}]}],
        "trackingInfo": {"company": "UPS", "number": "1Z999"}, "notifyCustomer": False,
    }})["fulfillmentCreate"]
    assert made["userErrors"] == []
    assert made["fulfillment"]["status"] == "SUCCESS"
    assert made["fulfillment"]["trackingInfo"] == [{"company": "UPS", "number": "1Z999"}]
    after = shop.data(ORDER_QUERY, {"id": gid})["order"]
    fo_after = after["fulfillmentOrders"]["edges"][0]["node"]
    assert after["displayFulfillmentStatus"] == "PARTIALLY_FULFILLED"
    assert fo_after["status"] == "IN_PROGRESS"
    assert fo_after["lineItems"]["edges"][0]["node"]["remainingQuantity"] == 1
    too_many = shop.data(FULFILL, {"f": {"lineItemsByFulfillmentOrder": [{
        "fulfillmentOrderId": fo["id"],
        "fulfillmentOrderLineItems": [{"id": fo_line["id"], "quantity": 2}]}]}})
    assert too_many["fulfillmentCreate"]["fulfillment"] is None
    rest = shop.data(FULFILL, {"f": {"lineItemsByFulfillmentOrder": [
        {"fulfillmentOrderId": fo["id"]}]}})
    assert rest["fulfillmentCreate"]["userErrors"] == []
    done = shop.data(ORDER_QUERY, {"id": gid})["order"]
    assert done["displayFulfillmentStatus"] == "FULFILLED"
    assert len(done["fulfillments"]) == 2
    level = shop.state.levels[(int(sku_item(shop, "A").rsplit("/", 1)[1]),
                               shop.state.first_location().num)]
    assert (level.get("available"), level.get("committed"), level.get("on_hand")) == (2, 0, 2)
    assert shop.state.wait_for_deliveries()
    statuses = [h.payload["fulfillment_status"] for h in endpoint.of("orders/updated")]
    assert statuses == ["partial", "fulfilled"]


def test_cancel_and_refund_restock_and_notify(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "2", "available": 5}])
    item = sku_item(shop, "A")
    cancelled = shop.state.place_order([{"sku": "A", "quantity": 2}])
    shop.state.cancel_order(cancelled["id"])
    assert shop.state.available(item) == 5
    refunded = shop.state.place_order([{"sku": "A", "quantity": 2}])
    refund = shop.state.refund_order(refunded["id"], [
        {"line_item_id": refunded["line_items"][0]["id"], "quantity": 1}])
    assert shop.state.available(item) == 4
    assert refund["refund_line_items"][0]["restock_type"] == "cancel"
    [money] = refund["transactions"]  # against the order's sale
    sale = shop.state.transactions(shop.state.must(Order, refunded["id"]))[0]
    assert {k: money[k] for k in ("order_id", "kind", "status", "amount", "currency",
                                  "gateway", "parent_id")} == {
        "order_id": refunded["id"], "kind": "refund", "status": "success", "amount": "2.00",
        "currency": "USD", "gateway": sale.gateway, "parent_id": sale.num}
    topics = [topic for topic, _ in shop.state.events]
    assert topics.count("orders/cancelled") == 1
    assert topics.count("refunds/create") == 1
    assert shop.state.orders[1]["financial_status"] == "partially_refunded"


MONEY_QUERY = """query($id: ID!) { order(id: $id) { cancelledAt displayFinancialStatus
    refunds { id note totalRefundedSet { shopMoney { amount } } }
    transactions { id kind status gateway amountSet { shopMoney { amount } }
    parentTransaction { id } } } }"""
CANCEL = """mutation($id: ID!, $restock: Boolean!, $method: OrderCancelRefundMethodInput) {
    orderCancel(orderId: $id, reason: CUSTOMER, restock: $restock, refundMethod: $method,
                notifyCustomer: true, staffNote: "asked by phone") {
    job { id done } orderCancelUserErrors { field message code } userErrors { field message } } }"""
REFUND = """mutation($input: RefundInput!) { refundCreate(input: $input) {
    refund { id note totalRefundedSet { shopMoney { amount } } } userErrors { field message } } }"""


def test_order_cancel_runs_as_a_job_and_refuses_an_order_cancelled_already(
        shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "3", "available": 5}])
    placed = shop.state.place_order([{"sku": "A", "quantity": 2}])
    order = f"gid://shopify/Order/{placed['id']}"
    done = shop.data(CANCEL, {"id": order, "restock": True,
                              "method": {"originalPaymentMethodsRefund": False}})["orderCancel"]
    assert done["orderCancelUserErrors"] == []
    assert shop.data("query($id: ID!) { job(id: $id) { id done } }",
                     {"id": done["job"]["id"]})["job"]["done"] is True
    after = shop.data(MONEY_QUERY, {"id": order})["order"]
    assert after["cancelledAt"] is not None
    assert after["displayFinancialStatus"] == "PAID"  # no refund asked for
    assert shop.state.available(sku_item(shop, "A")) == 5
    again = shop.data(CANCEL, {"id": order, "restock": True,
                               "method": {"originalPaymentMethodsRefund": True}})["orderCancel"]
    assert again["job"] is None
    assert [e["code"] for e in again["orderCancelUserErrors"]] == ["INVALID"]
    missing = shop.data(CANCEL, {"id": "gid://shopify/Order/999999", "restock": False})
    assert [e["code"] for e in missing["orderCancel"]["orderCancelUserErrors"]] == ["NOT_FOUND"]


def test_refund_create_gives_back_what_the_transactions_say_and_never_more_than_was_taken(
        shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "10", "available": 5}])
    placed = shop.state.place_order([{"sku": "A", "quantity": 2}])
    order = f"gid://shopify/Order/{placed['id']}"
    [sale] = shop.data(MONEY_QUERY, {"id": order})["order"]["transactions"]
    assert (sale["kind"], sale["status"], sale["amountSet"]["shopMoney"]["amount"]) == (
        "SALE", "SUCCESS", "20.00")

    def money(amount: str, **changes: Any) -> dict[str, Any]:
        return {"orderId": order, "parentId": sale["id"], "gateway": sale["gateway"],
                "kind": "REFUND", "amount": amount, **changes}

    made = shop.data(REFUND, {"input": {"orderId": order, "note": "dented",
                                        "transactions": [money("7.50")]}})["refundCreate"]
    assert made["userErrors"] == []
    assert made["refund"]["totalRefundedSet"]["shopMoney"]["amount"] == "7.50"
    refused = {
        "over": money("12.51"), "gateway": money("1.00", gateway="other"),
        "parent": money("1.00", parentId=made["refund"]["id"]),
        "kind": money("1.00", kind="SALE")}
    for name, spec in refused.items():
        answer = shop.data(REFUND, {"input": {"orderId": order, "transactions": [spec]}})
        assert answer["refundCreate"]["refund"] is None, name
        assert answer["refundCreate"]["userErrors"], name
    after = shop.data(MONEY_QUERY, {"id": order})["order"]
    assert [r["note"] for r in after["refunds"]] == ["dented"]
    assert after["displayFinancialStatus"] == "PARTIALLY_REFUNDED"
    refunds = [t for t in after["transactions"] if t["kind"] == "REFUND"]
    assert [(t["amountSet"]["shopMoney"]["amount"], t["parentTransaction"]["id"])
            for t in refunds] == [("7.50", sale["id"])]
    rest = shop.data(REFUND, {"input": {"orderId": order, "transactions": [money("12.50")]}})
    assert rest["refundCreate"]["userErrors"] == []
    assert shop.data(MONEY_QUERY, {"id": order})["order"]["displayFinancialStatus"] == \
        "REFUNDED"


def test_a_pending_order_marked_paid_gets_a_sale_and_sends_orders_paid(
        shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "4", "available": 5}])
    placed = shop.state.place_order([{"sku": "A", "quantity": 1}], financial_status="pending")
    order = f"gid://shopify/Order/{placed['id']}"
    assert shop.data(MONEY_QUERY, {"id": order})["order"]["transactions"] == []
    paid = shop.state.mark_paid(placed["id"])
    assert paid["financial_status"] == "paid"
    [sale] = shop.data(MONEY_QUERY, {"id": order})["order"]["transactions"]
    assert (sale["kind"], sale["amountSet"]["shopMoney"]["amount"]) == ("SALE", "4.00")
    assert [topic for topic, _ in shop.state.events][-2:] == ["orders/paid", "orders/updated"]
    with pytest.raises(ValueError, match="paid"):
        shop.state.mark_paid(placed["id"])


# -- products ------------------------------------------------------------------------------------

PRODUCT_SET = """mutation($input: ProductSetInput!, $identifier: ProductSetIdentifiers) {
  productSet(input: $input, identifier: $identifier, synchronous: true) {
    product { id handle title variants(first: 10) { nodes { id sku price
      selectedOptions { name value } inventoryItem { id tracked } } } }
    userErrors { field message code } } }"""


def test_product_set_creates_then_updates_keeping_matched_variants(shop: ShopServer) -> None:
    second = shop.state.add_location("Warehouse")
    created = shop.data(PRODUCT_SET, {"input": {
        "title": "Black Lotus", "vendor": "WotC", "status": "ACTIVE", "tags": ["mtg"],
        "productOptions": [{"name": "Condition", "values": [{"name": "NM"}, {"name": "LP"}]}],
        "variants": [
            {"optionValues": [{"optionName": "Condition", "name": "NM"}], "price": "100.00",
             "inventoryItem": {"sku": "LOTUS-NM", "tracked": True}},
            {"optionValues": [{"optionName": "Condition", "name": "LP"}], "price": "80.00",
             "inventoryItem": {"sku": "LOTUS-LP", "tracked": True}}]}})["productSet"]
    assert created["userErrors"] == []
    product = created["product"]
    assert product["handle"] == "black-lotus"
    nm, lp = product["variants"]["nodes"]
    assert nm["selectedOptions"] == [{"name": "Condition", "value": "NM"}]
    for location in (None, second):
        assert shop.state.available(nm["inventoryItem"]["id"], location) == 0
    updated = shop.data(PRODUCT_SET, {"identifier": {"id": product["id"]}, "input": {
        "title": "Black Lotus (Alpha)",
        "variants": [
            {"optionValues": [{"optionName": "Condition", "name": "NM"}], "price": "120.00",
             "inventoryItem": {"sku": "LOTUS-NM"}},
            {"optionValues": [{"optionName": "Condition", "name": "HP"}], "price": "50.00",
             "inventoryItem": {"sku": "LOTUS-HP"}}]}})["productSet"]
    assert updated["userErrors"] == []
    assert updated["product"]["id"] == product["id"]
    assert updated["product"]["title"] == "Black Lotus (Alpha)"
    kept, added = updated["product"]["variants"]["nodes"]
    assert (kept["id"], kept["sku"], kept["price"]) == (nm["id"], "LOTUS-NM", "120.00")
    assert added["id"] not in (nm["id"], lp["id"])
    assert shop.state.variant_by_sku("LOTUS-LP") is None
    topics = [topic for topic, _ in shop.state.events]
    assert topics == ["products/create", "products/update"]


def test_product_set_reports_an_unknown_product(shop: ShopServer) -> None:
    result = shop.data(PRODUCT_SET, {"identifier": {"id": "gid://shopify/Product/424242"},
                                     "input": {"title": "Ghost"}})["productSet"]
    assert result["product"] is None
    assert [e["code"] for e in result["userErrors"]] == ["PRODUCT_DOES_NOT_EXIST"]


def test_variants_bulk_update_changes_prices(shop: ShopServer) -> None:
    product = shop.state.add_product("Card", variants=[{"sku": "A", "price": "1"}])
    variant_id = product["variants"][0]["id"]
    result = shop.data("""mutation($p: ID!, $v: [ProductVariantsBulkInput!]!) {
        productVariantsBulkUpdate(productId: $p, variants: $v) {
        productVariants { id price compareAtPrice } userErrors { field message code } } }""",
                       {"p": product["id"], "v": [{"id": variant_id, "price": "3.75",
                                                   "compareAtPrice": "5.00"}]})
    assert result["productVariantsBulkUpdate"] == {"productVariants": [
        {"id": variant_id, "price": "3.75", "compareAtPrice": "5.00"}], "userErrors": []}
    assert shop.state.events[-1][0] == "products/update"


# -- control routes for the demo -----------------------------------------------------------------

def test_control_routes_place_orders_and_edit_stock(shop: ShopServer) -> None:
    shop.state.add_product("Card", variants=[{"sku": "A", "price": "1", "available": 5}])
    order = httpx.post(f"{shop.url}/_emulator/orders",
                       json={"lines": [{"sku": "A", "quantity": 2}]})
    stock = httpx.post(f"{shop.url}/_emulator/inventory", json={"sku": "A", "available": 11})
    state = httpx.get(f"{shop.url}/_emulator/state").json()
    assert order.status_code == 201
    assert order.json()["line_items"][0]["quantity"] == 2
    assert stock.json()["available"] == 11
    assert state["orders"] == 1
    assert state["products"][0]["variants"][0]["available"] == 11
