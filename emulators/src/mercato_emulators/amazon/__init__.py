"""An emulator of Amazon's Selling Partner API (LWA tokens, Listings Items, Feeds, Orders v0)
with per-operation rate limits (see ``server``)."""

from mercato_emulators.amazon.server import AmazonEmulator, create_app

__all__ = ["AmazonEmulator", "create_app"]
