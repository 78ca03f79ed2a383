"""Carts: their lines, codes, addresses and shipping choice, and the totals a cart shows."""
