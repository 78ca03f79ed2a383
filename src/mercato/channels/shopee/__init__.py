"""The Shopee Open Platform v2 connector (see ``sync``)."""
