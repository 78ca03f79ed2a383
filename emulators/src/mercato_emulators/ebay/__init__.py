"""An emulator of eBay's Sell APIs (OAuth, Inventory, Fulfillment, Post-Order cancellation)
and its signed notifications (see ``server``)."""

from mercato_emulators.ebay.server import EbayEmulator, create_app

__all__ = ["EbayEmulator", "create_app"]
