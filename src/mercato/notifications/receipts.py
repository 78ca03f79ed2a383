"""A receipt emailed on request (the point of sale's "Email receipt"): the order-paid email,
to any address the customer gives, once per address."""

from __future__ import annotations

from sqlalchemy.orm import Session

from mercato.notifications.events import order_context
from mercato.notifications.models import Notification
from mercato.notifications.service import queue
from mercato.orders.service import get_order
from mercato.tenancy import get_organization


def email_receipt(session: Session, organization_id: str, order_id: str,
                  to: str) -> Notification | None:
    """Queue the order's receipt (the ``order_paid`` email) to ``to``, in the caller's
    transaction; None when it was sent to this address before. ValidationFailed for an
    address that cannot receive mail."""
    order = get_order(session, order_id)
    store_name = get_organization(session, organization_id).name
    return queue(session, kind="order_paid", to=to, context=order_context(order, store_name),
                 reference=f"receipt:{order.id}:{to.strip().lower()}"[:200],
                 customer_id=order.customer_id)
