"""Carts, pricing, promotions, tax, shipping and checkout for the storefront."""
