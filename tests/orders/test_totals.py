"""Totals always equal the sum of their parts (hypothesis), and the docs show the real state
tables."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from mercato.orders.states import markdown_tables
from mercato.orders.totals import LineIn, ShippingIn, TaxIn, order_totals

ROOT = Path(__file__).resolve().parents[2]
amounts = st.integers(min_value=0, max_value=10_000_00).map(lambda c: Decimal(c) / 100)
rates = st.integers(min_value=0, max_value=300_000).map(lambda r: Decimal(r) / 1_000_000)
taxes = st.lists(st.builds(TaxIn, st.just("t"), rates, st.none() | amounts), max_size=3)


@st.composite
def lines(draw: st.DrawFn) -> LineIn:
    quantity = draw(st.integers(min_value=1, max_value=50))
    price = draw(amounts)
    subtotal = price * quantity
    discount = draw(st.integers(min_value=0, max_value=int(subtotal * 100))) / Decimal(100)
    return LineIn(quantity, price, [("d", discount)] if discount else [], draw(taxes))


@settings(max_examples=300, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=8),
       st.lists(st.builds(ShippingIn, amounts, taxes), max_size=3), st.booleans())
def test_order_totals_always_equal_the_sum_of_their_parts(
        order_lines: list[LineIn], shipping: list[ShippingIn], included: bool) -> None:
    totals = order_totals(order_lines, shipping, included=included)
    assert totals.errors == []
    cent = Decimal("0.01")
    for line, t in zip(order_lines, totals.lines, strict=True):
        assert t.subtotal == line.unit_price * line.quantity
        assert t.tax_total == sum((Decimal(x["amount"]) for x in t.tax_lines), Decimal(0))
        assert t.total == t.subtotal - t.discount_total + (0 if included else t.tax_total)
        assert all(Decimal(x["amount"]) == Decimal(x["amount"]).quantize(cent)
                   for x in t.tax_lines)
    assert totals.subtotal == sum((t.subtotal for t in totals.lines), Decimal(0))
    assert totals.tax_total == sum((t.tax_total for t in totals.lines), Decimal(0)) + sum(
        (s.tax_total for s in totals.shipping), Decimal(0))
    assert totals.total == sum((t.total for t in totals.lines), Decimal(0)) + sum(
        (s.base + (0 if included else s.tax_total) for s in totals.shipping), Decimal(0))
    assert totals.total == totals.total.quantize(cent)


def test_a_rate_tax_rounds_half_even_to_the_cent() -> None:
    # 0.50 x 0.05 = 0.025 -> 0.02; 0.70 x 0.05 = 0.035 -> 0.04
    low = order_totals([LineIn(1, Decimal("0.50"), (), [TaxIn("t", Decimal("0.05"))])], [],
                       included=False)
    high = order_totals([LineIn(1, Decimal("0.70"), (), [TaxIn("t", Decimal("0.05"))])], [],
                        included=False)
    assert (low.tax_total, high.tax_total) == (Decimal("0.02"), Decimal("0.04"))


def test_docs_show_the_state_tables_the_code_enforces() -> None:
    assert markdown_tables() in (ROOT / "docs" / "orders.md").read_text()
