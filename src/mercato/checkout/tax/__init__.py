"""Tax settings and rates, and the tax an address is charged."""
