"""Probe fixtures of the checkout module's admin routes (one file per part, imported here)."""

from tests.checkout import probe_pricing, probe_tax_shipping  # noqa: F401
