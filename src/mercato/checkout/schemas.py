"""Checkout's schemas for web skins (a web face: only ``api``/``deps`` and ``mercato.web``
import it): the admin's settings pages validate their forms with the same models as the API
routes of tax, shipping, pricing and promotions, and the storefront's cart pages with the cart
routes' models."""

from __future__ import annotations

from mercato.checkout.cart.schemas import CartLineIn, CartLineUpdate, CodeIn
from mercato.checkout.pricing.schemas import EntriesIn, PriceListIn, PriceListUpdate
from mercato.checkout.promotions.schemas import PromotionIn, PromotionUpdate
from mercato.checkout.shipping.schemas import (
    ShippingMethodIn,
    ShippingMethodUpdate,
    ShippingZoneIn,
    ShippingZoneUpdate,
)
from mercato.checkout.tax.schemas import TaxRateIn, TaxRateUpdate, TaxSettingsIn

__all__ = [
    "CartLineIn",
    "CartLineUpdate",
    "CodeIn",
    "EntriesIn",
    "PriceListIn",
    "PriceListUpdate",
    "PromotionIn",
    "PromotionUpdate",
    "ShippingMethodIn",
    "ShippingMethodUpdate",
    "ShippingZoneIn",
    "ShippingZoneUpdate",
    "TaxRateIn",
    "TaxRateUpdate",
    "TaxSettingsIn",
]
