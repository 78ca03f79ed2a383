"""An emulator of Shopify's GraphQL Admin API and webhooks (see ``server``)."""

from mercato_emulators.shopify.server import ShopifyEmulator, create_app

__all__ = ["ShopifyEmulator", "create_app"]
