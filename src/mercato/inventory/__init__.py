"""Inventory: locations, stock levels, the ledger, reservations, channel availability."""
