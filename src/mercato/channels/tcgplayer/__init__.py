"""TCGplayer: a marketplace channel (store inventory and prices pushed, orders and market
prices pulled, cards linked to TCGplayer SKUs); ``sync`` registers it."""
