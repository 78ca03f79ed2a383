"""Promotions: automatic and code-unlocked discounts, their limits and redemptions."""
