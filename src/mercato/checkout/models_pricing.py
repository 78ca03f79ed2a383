"""Price lists, pricing rules, promotions and redemptions."""

from __future__ import annotations
