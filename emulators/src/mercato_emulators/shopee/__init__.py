"""An emulator of the Shopee Open Platform v2 (signed calls, shop tokens, products and
models, stock and price, orders, logistics, signed pushes); see ``server``."""

from mercato_emulators.shopee.server import ShopeeEmulator, create_app

__all__ = ["ShopeeEmulator", "create_app"]
