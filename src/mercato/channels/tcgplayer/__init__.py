"""TCGplayer: a marketplace channel (store inventory and prices pushed, orders and market
prices pulled, cards linked to TCGplayer SKUs; ``sync`` registers it), and, for the many
stores without API keys, its seller portal's order export read here (``orders_csv``; the
inventory file is the catalog's, ``catalog.csvio``)."""
