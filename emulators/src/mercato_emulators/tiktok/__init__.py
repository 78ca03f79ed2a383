"""An emulator of TikTok Shop's Partner API 202309 (signed calls, token refresh, products,
inventory, prices, orders, cancellations, fulfilment) and its signed webhooks (see
``server``)."""

from mercato_emulators.tiktok.server import TiktokEmulator, create_app

__all__ = ["TiktokEmulator", "create_app"]
