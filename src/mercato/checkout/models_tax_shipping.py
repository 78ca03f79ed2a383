"""Tax rates, shipping zones and methods."""

from __future__ import annotations
