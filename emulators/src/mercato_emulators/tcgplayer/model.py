"""The TCGplayer emulator's state: a small catalog (categories, groups, products, SKUs and
their condition, printing and language tables), market prices, one seller's store inventory
and orders, bearer tokens, store authorization codes and the request budget.

Plain objects behind one lock (``TcgplayerEmulator.lock``); ``server`` turns them into HTTP.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

CONDITIONS = [(1, "Near Mint", "NM"), (2, "Lightly Played", "LP"),
              (3, "Moderately Played", "MP"), (4, "Heavily Played", "HP"),
              (5, "Damaged", "DMG")]
LANGUAGES = [(1, "English", "EN"), (2, "Japanese", "JA"), (3, "German", "DE"),
             (4, "French", "FR"), (5, "Italian", "IT"), (6, "Spanish", "ES")]
PRINTINGS = {  # per category name: the printings TCGplayer lists for the game
    "Magic": [(1, "Normal"), (2, "Foil")],
    "Pokemon": [(1, "Normal"), (2, "Holofoil"), (3, "Reverse Holofoil")],
}
ORDER_STATUSES = {1: "Processing", 2: "Ready to Ship", 3: "Shipped", 4: "Completed",
                  5: "Canceled"}
ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(ISO)


def money(value: Decimal | None) -> float | None:
    """Prices go out as JSON numbers, as TCGplayer sends them."""
    return None if value is None else float(value)


@dataclass
class Sku:
    sku_id: int
    product_id: int
    language_id: int
    printing_id: int
    condition_id: int
    low: Decimal | None = None
    market: Decimal | None = None
    direct_low: Decimal | None = None

    def out(self) -> dict[str, Any]:
        return {"skuId": self.sku_id, "productId": self.product_id,
                "languageId": self.language_id, "printingId": self.printing_id,
                "conditionId": self.condition_id}


@dataclass
class Product:
    product_id: int
    name: str
    category_id: int
    group_id: int
    number: str
    rarity: str
    modified: datetime
    skus: list[int] = field(default_factory=list)

    def out(self, extended: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "productId": self.product_id, "name": self.name, "cleanName": self.name,
            "imageUrl": f"https://tcgplayer-cdn.example/product/{self.product_id}_200w.jpg",
            "categoryId": self.category_id, "groupId": self.group_id,
            "url": f"https://www.tcgplayer.com/product/{self.product_id}",
            "modifiedOn": iso(self.modified)}
        if extended:
            body["extendedData"] = [
                {"name": "Number", "displayName": "Card Number", "value": self.number},
                {"name": "Rarity", "displayName": "Rarity", "value": self.rarity}]
        return body


@dataclass
class Listing:
    """The store's inventory of one SKU."""

    quantity: int = 0
    price: Decimal | None = None


@dataclass
class Order:
    number: str
    created: datetime
    updated: datetime
    status_id: int
    buyer: dict[str, Any]
    items: list[dict[str, Any]]
    shipping: Decimal
    shipping_type: str
    tracking: list[dict[str, Any]] = field(default_factory=list)

    def product_amount(self) -> Decimal:
        return sum((Decimal(str(i["price"])) * int(i["quantity"]) for i in self.items
                    if isinstance(i.get("quantity"), int)), Decimal("0"))

    def out(self) -> dict[str, Any]:
        products = self.product_amount()
        return {
            "orderNumber": self.number, "createdAt": iso(self.created),
            "updatedAt": iso(self.updated), "orderChannel": "TCGplayer",
            "orderFulfillment": "Normal", "status": ORDER_STATUSES.get(self.status_id, "?"),
            "orderStatusId": self.status_id, "shippingType": self.shipping_type,
            "customer": self.buyer,
            "transaction": {"productAmount": money(products),
                            "shippingAmount": money(self.shipping),
                            "grossAmount": money(products + self.shipping),
                            "feeAmount": money((products * Decimal("0.1025")).quantize(
                                Decimal("0.01"))),
                            "currency": "USD"},
            "trackingNumbers": list(self.tracking)}


class Throttled(Exception):
    def __init__(self, wait: float) -> None:
        self.wait = wait


class TcgplayerEmulator:
    """One TCGplayer seller (``store_key``) and one API application (``public_key`` /
    ``private_key``), with the catalog the tests and the demo seed."""

    def __init__(self, *, public_key: str, private_key: str, store_key: str,
                 authorization_code: str | None = None, store_access_token: str | None = None,
                 rate_per_second: float | None = None, token_lifetime: float = 1_209_599,
                 code_lifetime: float = 3600, clock: Callable[[], float] = time.time,
                 seed: bool = True) -> None:
        self.lock = threading.RLock()
        self.public_key = public_key
        self.private_key = private_key
        self.store_key = store_key.lower()
        self.store_access_token = store_access_token or f"store-{secrets.token_hex(16)}"
        self.token_lifetime = token_lifetime
        self.code_lifetime = code_lifetime
        self.clock = clock
        self.tokens: dict[str, float] = {}
        self.codes: dict[str, tuple[float, bool]] = {}
        if authorization_code:
            self.codes[authorization_code] = (clock() + code_lifetime, False)
        self.rate: float | None = rate_per_second
        self._budget = rate_per_second or 0.0
        self._budget_at = time.monotonic()
        self.fail_next = 0
        self.refused = 0
        """Requests answered 429."""
        self.requests: dict[str, int] = {}
        self.log: list[tuple[str, str]] = []
        self.categories: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        self.products: dict[int, Product] = {}
        self.skus: dict[int, Sku] = {}
        self.inventory: dict[int, Listing] = {}
        self.orders: dict[str, Order] = {}
        self._next_sku = 100_001
        self._next_product = 500_001
        self._next_group = 2_001
        self._next_order = 1
        if seed:
            self.seed()

    # -- catalog ----------------------------------------------------------------------------

    def seed(self) -> None:
        """Two games, a set each, a few cards in every condition, printing and language."""
        self.add_category(1, "Magic", "Magic: The Gathering")
        self.add_category(3, "Pokemon", "Pokémon")
        alpha = self.add_group(1, "Limited Edition Alpha", "LEA")
        base = self.add_group(3, "Base Set", "BS")
        self.add_product(alpha, "Lightning Bolt", "161", "Common", market="89.00")
        self.add_product(alpha, "Black Lotus", "232", "Rare", market="24999.00")
        self.add_product(base, "Charizard", "4/102", "Holo Rare", market="420.00")
        self.add_product(base, "Pikachu", "58/102", "Common", market="3.50")

    def add_category(self, category_id: int, name: str, display: str) -> dict[str, Any]:
        with self.lock:
            category = {"categoryId": category_id, "name": name, "displayName": display,
                        "modifiedOn": iso(datetime(2024, 1, 1, tzinfo=UTC)),
                        "seoCategoryName": display, "sealedLabel": "Sealed Products",
                        "nonSealedLabel": "Singles", "isScannable": True, "popularity": 0}
            self.categories[category_id] = category
            return category

    def add_group(self, category_id: int, name: str, abbreviation: str) -> int:
        with self.lock:
            group_id = self._next_group
            self._next_group += 1
            self.groups[group_id] = {"groupId": group_id, "name": name,
                                     "abbreviation": abbreviation, "isSupplemental": False,
                                     "publishedOn": iso(datetime(1993, 8, 5, tzinfo=UTC)),
                                     "modifiedOn": iso(datetime(2024, 1, 1, tzinfo=UTC)),
                                     "categoryId": category_id}
            return group_id

    def printings(self, category_id: int) -> list[tuple[int, str]]:
        name = self.categories.get(category_id, {}).get("name", "")
        return PRINTINGS.get(name, [(1, "Normal"), (2, "Foil")])

    def add_product(self, group_id: int, name: str, number: str, rarity: str = "Common", *,
                    market: str | None = None,
                    languages: Iterable[int] = (1, 2)) -> dict[str, Any]:
        """A card and its SKUs (every condition, printing and language given); market prices
        made up from ``market`` (Near Mint Normal English), lower for worse conditions."""
        with self.lock:
            group = self.groups[group_id]
            product = Product(self._next_product, name, group["categoryId"], group_id, number,
                              rarity, datetime.now(UTC))
            self._next_product += 1
            self.products[product.product_id] = product
            base = Decimal(market) if market else None
            for language_id in languages:
                for printing_id, printing in self.printings(product.category_id):
                    for condition_id, _, _ in CONDITIONS:
                        sku = Sku(self._next_sku, product.product_id, language_id,
                                  printing_id, condition_id)
                        self._next_sku += 1
                        if base is not None:
                            factor = (Decimal("1") - Decimal("0.15") * (condition_id - 1)) * (
                                Decimal("2") if printing != "Normal" else Decimal("1")) * (
                                Decimal("1") if language_id == 1 else Decimal("0.8"))
                            sku.market = (base * factor).quantize(Decimal("0.01"))
                            sku.low = (sku.market * Decimal("0.9")).quantize(Decimal("0.01"))
                            sku.direct_low = sku.market
                        self.skus[sku.sku_id] = sku
                        product.skus.append(sku.sku_id)
            return self.product_view(product.product_id)

    def product_view(self, product_id: int) -> dict[str, Any]:
        product = self.products[product_id]
        return {**product.out(True), "skus": [self.sku_view(s) for s in product.skus]}

    def sku_view(self, sku_id: int) -> dict[str, Any]:
        """A SKU with its table names resolved (for tests and the demo, not the API)."""
        sku = self.skus[sku_id]
        category = self.products[sku.product_id].category_id
        return {**sku.out(),
                "condition": next(a for i, _, a in CONDITIONS if i == sku.condition_id),
                "printing": dict(self.printings(category))[sku.printing_id],
                "language": next(a for i, _, a in LANGUAGES if i == sku.language_id)}

    def find_sku(self, product_id: int, condition: str = "NM", printing: str = "Normal",
                 language: str = "EN") -> int:
        for sku_id in self.products[product_id].skus:
            view = self.sku_view(sku_id)
            if (view["condition"], view["printing"], view["language"]) == (
                    condition, printing, language):
                return sku_id
        raise KeyError((product_id, condition, printing, language))

    def set_price(self, sku_id: int, *, low: str | None = None, market: str | None = None,
                  direct_low: str | None = None) -> None:
        with self.lock:
            sku = self.skus[sku_id]
            sku.low = Decimal(low) if low is not None else sku.low
            sku.market = Decimal(market) if market is not None else sku.market
            sku.direct_low = Decimal(direct_low) if direct_low is not None else sku.direct_low

    # -- the store --------------------------------------------------------------------------

    def listing(self, sku_id: int) -> dict[str, Any] | None:
        with self.lock:
            found = self.inventory.get(sku_id)
            return None if found is None else {"quantity": found.quantity,
                                               "price": money(found.price)}

    def stock(self, sku_id: int, quantity: int, price: str | None = None) -> None:
        """The seller lists units on TCGplayer (through the seller portal)."""
        with self.lock:
            listing = self.inventory.setdefault(sku_id, Listing())
            listing.quantity = quantity
            if price is not None:
                listing.price = Decimal(price)

    def place_order(self, items: list[dict[str, Any]], *, buyer: str = "Ada Lovelace",
                    shipping: str = "0.99", status_id: int = 1,
                    check_stock: bool = True) -> dict[str, Any]:
        """A buyer checks out on TCGplayer: the store's quantities go down as the marketplace
        sells them. ``items``: ``[{"skuId", "quantity", "price"?}]``; a price defaults to
        the listing's. ``check_stock`` False takes any item as given (a malformed order)."""
        with self.lock:
            lines: list[dict[str, Any]] = []
            for item in items:
                sku_id = item.get("skuId")
                listing = self.inventory.get(sku_id) if isinstance(sku_id, int) else None
                if check_stock:
                    if listing is None or listing.quantity < int(item["quantity"]):
                        raise ValueError(f"the store has too few of SKU {sku_id}")
                    listing.quantity -= int(item["quantity"])
                price = item.get("price")
                if price is None:
                    price = listing.price if listing is not None and listing.price else "1.00"
                sku = self.skus.get(sku_id) if isinstance(sku_id, int) else None
                lines.append({"skuId": sku_id, "productId": sku.product_id if sku else None,
                              "name": self.products[sku.product_id].name if sku else "?",
                              "quantity": item["quantity"], "price": float(Decimal(str(price)))})
            now = datetime.now(UTC)
            number = f"{self.store_key[:8].upper()}-{now:%y%m%d}-{self._next_order:05d}"
            self._next_order += 1
            first, _, last = buyer.partition(" ")
            order = Order(number, now, now, status_id, {
                "name": buyer, "email": None, "token": secrets.token_hex(8),
                "shippingAddress": {"firstName": first, "lastName": last,
                                    "address1": "1 Analytical Way", "address2": None,
                                    "city": "London", "state": "", "postalCode": "N1 9GU",
                                    "country": "GB"}},
                lines, Decimal(shipping), "Standard")
            self.orders[number] = order
            return order.out()

    def touch_order(self, number: str, *, status_id: int | None = None) -> None:
        with self.lock:
            order = self.orders[number]
            if status_id is not None:
                order.status_id = status_id
            order.updated = datetime.now(UTC)

    # -- auth and limits --------------------------------------------------------------------

    def issue_token(self, client_id: str, client_secret: str) -> dict[str, Any] | None:
        with self.lock:
            if (client_id, client_secret) != (self.public_key, self.private_key):
                return None
            token = secrets.token_urlsafe(48)
            now = self.clock()
            self.tokens[token] = now + self.token_lifetime
            issued = datetime.fromtimestamp(now, UTC)
            return {"access_token": token, "token_type": "bearer",
                    "expires_in": int(self.token_lifetime), "userName": self.public_key,
                    ".issued": issued.strftime("%a, %d %b %Y %H:%M:%S GMT"),
                    ".expires": (issued + timedelta(seconds=self.token_lifetime)).strftime(
                        "%a, %d %b %Y %H:%M:%S GMT")}

    def bearer_valid(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("bearer "):
            return False
        with self.lock:
            expires = self.tokens.get(header[7:].strip())
            return expires is not None and expires > self.clock()

    def expire_tokens(self) -> None:
        """Every bearer token issued so far expires now."""
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def new_code(self) -> str:
        """A store authorization code, as the seller portal shows it (six characters)."""
        with self.lock:
            code = secrets.token_hex(3).upper()
            self.codes[code] = (self.clock() + self.code_lifetime, False)
            return code

    def redeem(self, code: str) -> str | None:
        with self.lock:
            found = self.codes.get(code)
            if found is None or found[1] or found[0] <= self.clock():
                return None
            self.codes[code] = (found[0], True)
            return self.store_access_token

    def throttle(self, *, rate_per_second: float | None = None, fail_next: int = 0) -> None:
        with self.lock:
            self.rate = rate_per_second
            self._budget = rate_per_second or 0.0
            self._budget_at = time.monotonic()
            self.fail_next = fail_next

    def count(self, method: str, path: str) -> None:
        """One request in; ``Throttled`` when over the rate (or told to refuse it)."""
        with self.lock:
            key = f"{method} {path}"
            self.requests[key] = self.requests.get(key, 0) + 1
            self.log.append((method, path))
            if self.fail_next > 0:
                self.fail_next -= 1
                self.refused += 1
                raise Throttled(0.05)
            if self.rate is None:
                return
            now = time.monotonic()
            self._budget = min(self.rate, self._budget + (now - self._budget_at) * self.rate)
            self._budget_at = now
            if self._budget < 1.0:
                self.refused += 1
                raise Throttled((1.0 - self._budget) / self.rate)
            self._budget -= 1.0

    def calls(self, prefix: str = "") -> int:
        """Requests received whose ``METHOD /path`` starts with ``prefix``."""
        with self.lock:
            return sum(n for key, n in self.requests.items() if key.startswith(prefix))
