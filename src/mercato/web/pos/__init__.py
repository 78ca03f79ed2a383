"""The point of sale (``/pos``): a cashier signed in through the admin's sign-in sells from a
register's location (``sell``) and takes returns
against past receipts (``returns``), over the same service functions as every channel."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.web.pos import returns, sell
from mercato.web.routing import fenced

routers: list[APIRouter] = [fenced(sell.router), fenced(returns.router)]
"""The POS's routers, each behind a fence of its own paths (``web.routing``)."""
