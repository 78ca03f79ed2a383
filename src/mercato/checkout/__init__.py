"""Checkout: carts, pricing, promotions, tax, shipping and checkout itself, for the
storefront's API and pages, the POS and the payment webhook alike.

This package is checkout's face: another module (or a web skin of its own) imports from here.
Inside, one sub-package per feature (``cart``, ``pricing``, ``promotions``, ``tax``,
``shipping``) and ``steps`` (checkout as explicit steps).

- Carts: ``create_cart``, ``get_cart``, ``editable``, ``add_line``, ``set_quantity``,
  ``remove_line``, ``add_code``, ``remove_code``, ``set_address``, ``set_method``,
  ``set_email``, ``shipping_options``; ``view`` prices a cart as it stands (a ``CartView``).
- Checkout as explicit steps: ``prepare`` (one transaction: lock, price, hold stock, record the
  attempt; a ``Prepared``), ``charge`` (a remote gateway outside any transaction), then
  ``complete`` or ``compensate`` (hold released, cart reopened); ``start`` composes them and
  answers an ``Outcome``. ``public_payment`` is a payment state as its shopper may see it.
"""

from __future__ import annotations

from mercato.checkout.cart.service import (
    CartView,
    add_code,
    add_line,
    create_cart,
    editable,
    get_cart,
    public_payment,
    remove_code,
    remove_line,
    set_address,
    set_email,
    set_method,
    set_quantity,
    shipping_options,
    view,
)
from mercato.checkout.steps import (
    Outcome,
    Prepared,
    charge,
    compensate,
    complete,
    prepare,
    start,
)

__all__ = [
    "CartView",
    "Outcome",
    "Prepared",
    "add_code",
    "add_line",
    "charge",
    "compensate",
    "complete",
    "create_cart",
    "editable",
    "get_cart",
    "prepare",
    "public_payment",
    "remove_code",
    "remove_line",
    "set_address",
    "set_email",
    "set_method",
    "set_quantity",
    "shipping_options",
    "start",
    "view",
]
