"""The connector packages this build ships. Each registers its jobs and pusher with
``channels.registry`` when it is imported; the app imports this module at start-up
(``mercato.app.load_modules``), so the registry never imports a connector. An extension
adds a connector the same way: a module in ``settings.extensions`` that calls
``registry.register`` on import."""

from __future__ import annotations

import mercato.channels.amazon.sync
import mercato.channels.binderpos
import mercato.channels.ebay.sync
import mercato.channels.shopee.sync
import mercato.channels.shopify.sync
import mercato.channels.tcgplayer.sync
import mercato.channels.tiktok.sync  # noqa: F401
