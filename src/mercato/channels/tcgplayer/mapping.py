"""TCGplayer's shapes to Mercato's: which TCGplayer SKU a Mercato card is (game ↔ category,
set ↔ group, collector number ↔ the product's ``Number``, condition, finish ↔ printing,
language), and a TCGplayer order with its items as an order to ingest."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from mercato.catalog import CardVariant
from mercato.identity import Address
from mercato.orders import CustomerRef, OrderIn, OrderLineIn, PaymentIn

SKU_CODE = re.compile(r"^TCG-(\d{1,12})$", re.IGNORECASE)
"""A SKU of a TCGplayer CSV import: the TCGplayer SKU id after ``TCG-``."""
GAMES = {
    "magic": ("magic", "magic: the gathering"),
    "pokemon": ("pokemon", "pokémon"),
    "yugioh": ("yugioh", "yu-gi-oh!", "yu-gi-oh"),
    "lorcana": ("lorcana tcg", "lorcana", "disney lorcana"),
    "onepiece": ("one piece card game", "one piece"),
    "fab": ("flesh and blood tcg", "flesh and blood"),
    "digimon": ("digimon card game", "digimon"),
}
"""Mercato's game (``catalog/tcg.py``) and the names TCGplayer's category goes by."""
FINISHES = {
    "nonfoil": ("normal", "unlimited", "1st edition"),
    "foil": ("foil", "holofoil"),
    "holo": ("holofoil", "foil"),
    "reverse-holo": ("reverse holofoil",),
    "etched": ("foil etched", "etched foil", "etched"),
    "surge-foil": ("surge foil",),
    "gilded": ("gilded foil", "gilded"),
    "textured": ("textured foil", "textured"),
}
"""Mercato's finish and the TCGplayer printings it may be, best first."""
CANCELLED = ("Canceled", "Cancelled")


def direct_sku(variant: CardVariant) -> str | None:
    """The TCGplayer SKU id a variant carries: its ``TCG-<id>`` SKU or ``tcgplayer_id``."""
    found = SKU_CODE.match(variant.sku.strip())
    if found:
        return found.group(1)
    raw = str(variant.variant_attributes.get("tcgplayer_id") or "").strip()
    return raw if raw.isdigit() else None


def is_card(variant: CardVariant) -> bool:
    """A variant described as a card (its product has a game and a collector number)."""
    return bool(variant.attributes.get("game") and variant.attributes.get("collector_number"))


def fold(text: Any) -> str:
    return " ".join(str(text or "").casefold().split())


def numbers_match(ours: str, theirs: str) -> bool:
    """``4`` matches ``4/102`` and ``004``; otherwise equal ignoring case and spaces."""
    a, b = fold(ours), fold(theirs)
    if a == b:
        return True
    head_a, head_b = a.split("/", 1)[0].lstrip("0"), b.split("/", 1)[0].lstrip("0")
    return bool(head_a) and head_a == head_b and ("/" not in a or "/" not in b)


def product_number(product: Mapping[str, Any]) -> str | None:
    for item in product.get("extendedData") or []:
        if isinstance(item, dict) and fold(item.get("name")) == "number":
            return str(item.get("value") or "")
    return None


def pick(table: list[dict[str, Any]], id_field: str, wanted: str,
         fields: tuple[str, ...]) -> int | None:
    """The id of the row of ``table`` one of whose ``fields`` is ``wanted`` (case folded)."""
    for row in table:
        if any(fold(row.get(f)) == fold(wanted) for f in fields if row.get(f)):
            return int(row[id_field])
    return None


def printing_ids(printings: list[dict[str, Any]], finish: str) -> list[int]:
    """The printings a finish may be, best first (``nonfoil`` also any printing named
    ``Normal``)."""
    names = FINISHES.get(finish, (finish,))
    by_name = {fold(p.get("name")): int(p["printingId"]) for p in printings}
    return [by_name[n] for n in names if n in by_name]


# -- orders -------------------------------------------------------------------------------------

def _money(value: Any, what: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what} is not a number: {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what} is not a price: {value!r}")
    return amount.quantize(Decimal("0.01"))


def _address(buyer: Mapping[str, Any]) -> Address | None:
    raw = buyer.get("shippingAddress")
    if not isinstance(raw, dict):
        return None
    fields = {"first_name": raw.get("firstName"), "last_name": raw.get("lastName"),
              "line1": raw.get("address1"), "line2": raw.get("address2"),
              "city": raw.get("city"), "region": raw.get("state"),
              "postal_code": raw.get("postalCode"), "country": raw.get("country")}
    try:
        return Address.model_validate({k: v for k, v in fields.items() if v})
    except ValueError:
        return None  # an address Mercato cannot hold does not lose the order


def timestamp(raw: Any) -> dt.datetime | None:
    if not raw:
        return None
    value = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def order_in(order: Mapping[str, Any], items: Sequence[Mapping[str, Any]], channel_id: str,
             sku_of: Mapping[str, str]) -> tuple[OrderIn | None, list[str]]:
    """A TCGplayer order as an order to ingest, and the items left out (a SKU no Mercato
    variant is linked to). ``sku_of``: Mercato SKU by TCGplayer SKU id. A malformed item
    (quantity or price) is a ``ValueError`` naming it: the order is reported, not guessed."""
    number = str(order["orderNumber"])
    lines: list[OrderLineIn] = []
    skipped: list[str] = []
    for index, item in enumerate(items):
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise ValueError(f"item {index} (SKU {item.get('skuId')}): quantity "
                             f"{quantity!r} is not a whole number of units")
        price = _money(item.get("price"), f"item {index} price")
        sku = sku_of.get(str(item.get("skuId")))
        if sku is None:
            skipped.append(f"{quantity} x {item.get('name') or '?'} (TCGplayer SKU "
                           f"{item.get('skuId')})")
            continue
        lines.append(OrderLineIn(sku=sku, quantity=quantity, unit_price=price,
                                 title=str(item.get("name") or "")[:500] or None))
    if not lines:
        return None, skipped
    raw_buyer = order.get("customer")
    buyer: Mapping[str, Any] = raw_buyer if isinstance(raw_buyer, dict) else {}
    name = str(buyer.get("name") or "").strip()
    first, _, last = name.partition(" ")
    raw_transaction = order.get("transaction")
    transaction: Mapping[str, Any] = raw_transaction if isinstance(raw_transaction, dict) \
        else {}
    shipping = _money(transaction.get("shippingAmount"), "shippingAmount")
    gross = _money(transaction.get("grossAmount"), "grossAmount")
    email = buyer.get("email") or None
    data = OrderIn.model_validate({
        "channel": channel_id, "external_id": number, "external_number": number,
        "currency": str(transaction.get("currency") or "USD").upper(), "lines": lines,
        "shipping_lines": [{"title": f"TCGplayer {order.get('shippingType') or ''}".strip()[:200],
                            "price": shipping}] if shipping else [],
        "customer": CustomerRef(email=email, first_name=first or None,
                                last_name=last or None) if email else None,
        "shipping_address": _address(buyer),
        # TCGplayer took the buyer's money; with items left out it covers more than this order
        "payments": [PaymentIn(method="tcgplayer", amount=None if skipped else gross,
                               status="paid", reference=number)],
        "tags": ["tcgplayer", "unmatched-lines"] if skipped else ["tcgplayer"],
        "note": ("Items Mercato could not match to a variant (not in this order): "
                 + "; ".join(skipped) + f". TCGplayer's total: {gross}.")[:5000]
        if skipped else (f"Buyer: {name}" if name and not email else None),
        "placed_at": timestamp(order.get("createdAt"))})
    return data, skipped


def cancelled(order: Mapping[str, Any]) -> bool:
    return str(order.get("status") or "") in CANCELLED
