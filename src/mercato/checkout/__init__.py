"""Checkout: carts, pricing, promotions, tax, shipping and checkout itself, for the
storefront's API and pages, the POS and the payment webhook alike.

This package is checkout's face: another module (or a web skin of its own) imports from here.
Inside, one sub-package per feature (``cart``, ``pricing``, ``promotions``, ``tax``,
``shipping``) and ``steps`` (checkout as explicit steps).

- Carts: ``create_cart``, ``get_cart``, ``editable``, ``add_line``, ``set_quantity``,
  ``remove_line``, ``add_code``, ``remove_code``, ``set_address``, ``set_method``,
  ``set_email``, ``shipping_options``, ``cart_needs_shipping`` (not for digital goods
  only); ``merge_into_customer`` (a guest cart at sign-in), ``shopper_cart`` (a signed-in
  shopper's open cart); ``view`` prices a cart as it stands (a ``CartView``).
- Checkout as explicit steps: ``prepare`` (one transaction: lock, price, hold stock, record the
  attempt; a ``Prepared``), ``charge`` (a remote gateway outside any transaction), then
  ``complete`` or ``compensate`` (hold released, cart reopened); ``start`` composes them and
  answers an ``Outcome``. ``public_payment`` is a payment state as its shopper may see it.
- The store's settings, as the admin routes change them (their input models are in
  ``checkout.schemas``): tax settings and rates (``tax_settings_row``, ``put_tax_settings``,
  ``*_tax_rate``), shipping zones and methods (``*_shipping_zone``, ``*_shipping_method``),
  price lists (``*_price_list``, ``price_list_entry_counts``, ``*_price_list_entries``,
  ``delete_price_list_entry``) and promotions
  (``*_promotion``).
"""

from __future__ import annotations

from mercato.checkout.cart.service import (
    CartView,
    add_code,
    add_line,
    cart_needs_shipping,
    create_cart,
    editable,
    get_cart,
    merge_into_customer,
    public_payment,
    remove_code,
    remove_line,
    set_address,
    set_email,
    set_method,
    set_quantity,
    shipping_options,
    shopper_cart,
    view,
)
from mercato.checkout.pricing.service import (
    create_price_list,
    delete_price_list,
    get_price_list,
    list_price_lists,
    update_price_list,
)
from mercato.checkout.pricing.service import delete_entry as delete_price_list_entry
from mercato.checkout.pricing.service import entry_counts as price_list_entry_counts
from mercato.checkout.pricing.service import list_entries as list_price_list_entries
from mercato.checkout.pricing.service import set_entries as set_price_list_entries
from mercato.checkout.promotions.service import (
    create_promotion,
    delete_promotion,
    get_promotion,
    list_promotions,
    update_promotion,
)
from mercato.checkout.shipping.service import create_method as create_shipping_method
from mercato.checkout.shipping.service import create_zone as create_shipping_zone
from mercato.checkout.shipping.service import delete_method as delete_shipping_method
from mercato.checkout.shipping.service import delete_zone as delete_shipping_zone
from mercato.checkout.shipping.service import get_method as get_shipping_method
from mercato.checkout.shipping.service import get_zone as get_shipping_zone
from mercato.checkout.shipping.service import list_methods as list_shipping_methods
from mercato.checkout.shipping.service import list_zones as list_shipping_zones
from mercato.checkout.shipping.service import update_method as update_shipping_method
from mercato.checkout.shipping.service import update_zone as update_shipping_zone
from mercato.checkout.steps import (
    Outcome,
    Prepared,
    charge,
    compensate,
    complete,
    prepare,
    start,
)
from mercato.checkout.tax.service import create_rate as create_tax_rate
from mercato.checkout.tax.service import delete_rate as delete_tax_rate
from mercato.checkout.tax.service import get_rate as get_tax_rate
from mercato.checkout.tax.service import list_rates as list_tax_rates
from mercato.checkout.tax.service import put_settings as put_tax_settings
from mercato.checkout.tax.service import sale_taxes
from mercato.checkout.tax.service import settings_row as tax_settings_row
from mercato.checkout.tax.service import update_rate as update_tax_rate

__all__ = [
    "CartView",
    "Outcome",
    "Prepared",
    "add_code",
    "add_line",
    "cart_needs_shipping",
    "charge",
    "compensate",
    "complete",
    "create_cart",
    "create_price_list",
    "create_promotion",
    "create_shipping_method",
    "create_shipping_zone",
    "create_tax_rate",
    "delete_price_list",
    "delete_price_list_entry",
    "delete_promotion",
    "delete_shipping_method",
    "delete_shipping_zone",
    "delete_tax_rate",
    "editable",
    "get_cart",
    "get_price_list",
    "get_promotion",
    "get_shipping_method",
    "get_shipping_zone",
    "get_tax_rate",
    "list_price_list_entries",
    "list_price_lists",
    "list_promotions",
    "list_shipping_methods",
    "list_shipping_zones",
    "list_tax_rates",
    "merge_into_customer",
    "prepare",
    "price_list_entry_counts",
    "public_payment",
    "put_tax_settings",
    "remove_code",
    "remove_line",
    "sale_taxes",
    "set_address",
    "set_email",
    "set_method",
    "set_price_list_entries",
    "set_quantity",
    "shipping_options",
    "shopper_cart",
    "start",
    "tax_settings_row",
    "update_price_list",
    "update_promotion",
    "update_shipping_method",
    "update_shipping_zone",
    "update_tax_rate",
    "view",
]
