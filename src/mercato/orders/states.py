"""The order's three state machines. docs/orders.md renders these tables; an action that would
take a machine along an edge not listed here is refused with a 409 and changes nothing.

Financial and fulfillment states are derived from the order's payments and line quantities
after each action, then checked against the table: the tables say which consequences an
action may have, so a bug that would, say, take a refunded order back to paid fails loudly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from mercato.core.errors import Conflict

if TYPE_CHECKING:
    from mercato.orders.models import Order

STATUS: dict[str, frozenset[str]] = {
    "open": frozenset({"closed", "cancelled"}),
    "closed": frozenset({"open"}),
    "cancelled": frozenset(),
}

FINANCIAL: dict[str, frozenset[str]] = {
    "pending": frozenset({"authorized", "paid", "voided", "partially_refunded", "refunded"}),
    "authorized": frozenset({"pending", "paid", "voided", "partially_refunded", "refunded"}),
    "paid": frozenset({"partially_refunded", "refunded"}),
    "partially_refunded": frozenset({"partially_refunded", "refunded"}),
    "refunded": frozenset(),
    "voided": frozenset(),
}

FULFILLMENT: dict[str, frozenset[str]] = {
    "unfulfilled": frozenset({"partial", "fulfilled"}),
    "partial": frozenset({"partial", "fulfilled", "returned"}),
    "fulfilled": frozenset({"returned"}),
    "returned": frozenset(),
}

MACHINES = {"status": STATUS, "financial_status": FINANCIAL,
            "fulfillment_status": FULFILLMENT}

WHY = {
    "status": "open -> closed (done) or cancelled; closed -> open (reopened).",
    "financial_status": "money moves forward: authorized, paid, then refunds; a refunded "
                        "or voided order takes no more money.",
    "fulfillment_status": "units ship, then may come back.",
}


def require(order: Order, machine: str, target: str, *, action: str) -> None:
    """Refuse ``action`` unless ``machine`` may go from the order's state to ``target``
    (staying put counts as a move: closing a closed order is refused too)."""
    current = str(getattr(order, machine))
    if target not in MACHINES[machine][current]:
        raise Conflict(
            f"Cannot {action}: the order's {machine} is {current!r}, and {current!r} -> "
            f"{target!r} is not allowed ({WHY[machine]})",
            extra={"machine": machine, "from": current, "to": target})


def require_open(order: Order, *, action: str) -> None:
    if order.status != "open":
        raise Conflict(f"Cannot {action}: the order is {order.status}.",
                       extra={"machine": "status", "from": order.status, "to": order.status})


def derive_financial(order: Order) -> str:
    live = [p for p in order.payments if p.status != "voided"]
    if order.payments and not live:
        return "voided"  # every authorization was voided
    paid = sum((p.amount for p in live if p.status == "paid"), Decimal("0"))
    refunded = sum((p.refunded for p in live), Decimal("0"))
    if refunded > 0:
        return "refunded" if refunded >= paid else "partially_refunded"
    if paid > 0 and paid >= order.total:
        return "paid"
    covered = sum((p.amount for p in live), Decimal("0"))
    if any(p.status == "authorized" for p in live) and covered >= order.total:
        return "authorized"
    return "pending"


def derive_fulfillment(order: Order) -> str:
    fulfilled = sum(line.fulfilled for line in order.lines)
    returned = sum(line.returned for line in order.lines)
    open_units = sum(line.quantity - line.cancelled - line.fulfilled for line in order.lines)
    if fulfilled == 0:
        return "unfulfilled"
    if open_units > 0:
        return "partial"
    return "returned" if returned >= fulfilled else "fulfilled"


def settle(order: Order, *, action: str) -> list[str]:
    """Move financial and fulfillment states to what the order now says, checking each edge;
    the names of the machines that changed."""
    changed = []
    for machine, target in (("financial_status", derive_financial(order)),
                            ("fulfillment_status", derive_fulfillment(order))):
        if getattr(order, machine) != target:
            require(order, machine, target, action=action)
            setattr(order, machine, target)
            changed.append(machine)
    return changed


def markdown_tables() -> str:
    """The tables docs/orders.md shows (a test keeps them equal)."""
    out = []
    for machine, table in MACHINES.items():
        out.append(f"| {machine} | may become |\n| --- | --- |")
        out.extend(f"| `{state}` | {', '.join(f'`{t}`' for t in sorted(targets)) or '(final)'} |"
                   for state, targets in table.items())
        out.append("")
    return "\n".join(out).rstrip() + "\n"
