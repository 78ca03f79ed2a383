"""The eBay connector: Sell APIs (Inventory, Fulfillment, Post-Order) with eBay's OAuth,
trading-card condition descriptors, the daily revision limit, and eBay's signed
notifications (see ``sync``, ``client``, ``inbound``, ``conditions``)."""
