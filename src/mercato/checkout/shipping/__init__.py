"""Shipping zones and methods, and the quotes an address and a cart get."""
