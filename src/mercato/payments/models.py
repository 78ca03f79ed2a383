"""Gateway settings, gift cards, store credit, provider events."""

from __future__ import annotations
