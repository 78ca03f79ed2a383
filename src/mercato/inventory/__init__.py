"""Inventory: locations, stock levels and their ledger, sales channels (where stock is sold and
how much each may show), reservations, transfers, counts and purchasing.

This module is inventory's face: other modules import what they call from here, never from
its internals (``stock``, ``service``, ``reservations``, ``channels``, ``models``, ...), which
may change. Functions take a session and plain data (or the schemas below) and return plain
data or inventory's own rows (``Location``, ``SalesChannel``, ``Reservation``), which the
caller reads but does not query.

- Holding and selling stock: ``reserve`` / ``commit`` / ``release`` a reservation;
  ``take_what_is_free`` (a sale made elsewhere: hold what there is) then ``sell``;
  ``restock`` (units back on hand); ``places`` / ``candidates`` (where a line may come
  from); ``location_id`` (a location a request names, 422 on its field).
- Levels and availability: ``levels`` (read levels), ``list_levels``, ``set_level``,
  ``adjust``, ``available_to_sell``, ``sellable`` (units a channel may sell, by variant),
  ``web_channel``, ``channel_of_kind``, ``get_channel``, ``list_channels``, ``create_channel``,
  ``update_channel``, ``emails_buyers``, ``on_published`` (listen to published
  availability).
- Locations: ``create_location``, ``get_location``, ``find_location``,
  ``location_ids_by_name``.
- Upkeep: ``verify_ledger`` / ``rebuild_levels`` (the CLI's ledger check and repair).
"""

from __future__ import annotations

from mercato.inventory.lookup import location_id
from mercato.inventory.models import Location, Reservation, SalesChannel
from mercato.inventory.reservations import (
    candidates,
    commit,
    places,
    release,
    reserve,
    take_what_is_free,
)
from mercato.inventory.sales_channels import (
    AvailabilityListener,
    PublishedNumber,
    available_to_sell,
    channel_of_kind,
    create_channel,
    emails_buyers,
    get_channel,
    list_channels,
    on_published,
    sellable,
    update_channel,
    web_channel,
)
from mercato.inventory.schemas import (
    MAX_LINES,
    MAX_UNITS,
    AdjustmentIn,
    AdjustmentLine,
    ChannelCreate,
    ChannelUpdate,
    LevelSet,
    LocationCreate,
    ReservationIn,
    ReservationLineIn,
)
from mercato.inventory.schemas import Address as PlaceAddress
from mercato.inventory.service import (
    adjust,
    create_location,
    find_location,
    get_location,
    list_levels,
    location_ids_by_name,
    set_level,
)
from mercato.inventory.stock import InsufficientStock, Level, restock, sell
from mercato.inventory.stock import read_levels as levels
from mercato.inventory.stock import rebuild as rebuild_levels
from mercato.inventory.stock import verify as verify_ledger

__all__ = [
    "MAX_LINES", "MAX_UNITS", "AdjustmentIn", "AdjustmentLine", "AvailabilityListener",
    "ChannelCreate", "ChannelUpdate", "InsufficientStock", "Level", "LevelSet", "Location",
    "LocationCreate", "PlaceAddress", "PublishedNumber", "Reservation", "ReservationIn",
    "ReservationLineIn", "SalesChannel", "adjust", "available_to_sell", "candidates",
    "channel_of_kind", "commit", "create_channel", "create_location", "emails_buyers",
    "find_location", "get_channel", "get_location", "levels", "list_channels", "list_levels",
    "location_id",
    "location_ids_by_name", "on_published", "places", "rebuild_levels", "release", "reserve",
    "restock", "sell", "sellable", "set_level", "take_what_is_free", "update_channel",
    "verify_ledger", "web_channel",
]
