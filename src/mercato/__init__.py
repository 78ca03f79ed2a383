"""Mercato: one system of record for a retailer's catalog, stock and orders."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mercato")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
