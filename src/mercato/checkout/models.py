"""Carts and their lines."""

from __future__ import annotations
