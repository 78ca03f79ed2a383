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
  ``web_channel``, ``channel_of_kind``, ``get_channel``, ``create_channel``,
  ``update_channel``, ``emails_buyers``, ``on_published`` (listen to published
  availability).
- Digital goods: ``digital_location`` (where a licence-key pool's size is kept as stock, made
  on first use; the web storefront sells from it, channel or not).
- Locations: ``create_location``, ``get_location``, ``find_location``,
  ``location_ids_by_name``; the store locator's ``find_public_locations`` (nearest a point
  from ``parse_point``, or a postal code).
- Upkeep: ``verify_ledger`` / ``rebuild_levels`` (the CLI's ledger check and repair).
- For the admin's pages (the same calls as the API's routes): channels' ``list_channels``,
  ``buffers_of``, ``set_buffers`` / ``BufferIn``; transfers (``create_transfer``,
  ``list_transfers``, ``get_transfer``, ``receive_transfer``, ``cancel_transfer``,
  ``in_transit`` / ``TransferIn``, ``TransferReceiveIn``); count sheets (``create_count``,
  ``list_counts``, ``get_count``, ``record_counts``, ``apply_count``, ``cancel_count``,
  ``count_variance`` / ``CountIn``, ``CountedIn``, ``ApplyIn``); purchase orders
  (``create_purchase_order``, ``list_purchase_orders``, ``get_purchase_order``,
  ``receive_purchase_order``, ``cancel_purchase_order`` / ``PurchaseOrderCreate``,
  ``PurchaseReceiveIn``).
"""

from __future__ import annotations

from mercato.inventory import imported as _imported  # noqa: F401 - provides catalog's ports
from mercato.inventory.counts import apply as apply_count
from mercato.inventory.counts import cancel as cancel_count
from mercato.inventory.counts import create_count, get_count, list_counts
from mercato.inventory.counts import record as record_counts
from mercato.inventory.counts import variance as count_variance
from mercato.inventory.locator import Located, find_public_locations, parse_point
from mercato.inventory.lookup import location_id
from mercato.inventory.models import Location, Reservation, SalesChannel
from mercato.inventory.purchasing.schemas import PurchaseOrderCreate
from mercato.inventory.purchasing.schemas import ReceiveIn as PurchaseReceiveIn
from mercato.inventory.purchasing.service import cancel as cancel_purchase_order
from mercato.inventory.purchasing.service import create as create_purchase_order
from mercato.inventory.purchasing.service import get as get_purchase_order
from mercato.inventory.purchasing.service import list_orders as list_purchase_orders
from mercato.inventory.purchasing.service import receive as receive_purchase_order
from mercato.inventory.purchasing.service import valuation, valuation_csv
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
    buffers_of,
    channel_of_kind,
    create_channel,
    digital_location,
    emails_buyers,
    get_channel,
    list_channels,
    on_published,
    sellable,
    set_buffers,
    update_channel,
    web_channel,
)
from mercato.inventory.schemas import (
    MAX_LINES,
    MAX_UNITS,
    AdjustmentIn,
    AdjustmentLine,
    BufferIn,
    ChannelCreate,
    ChannelUpdate,
    LevelSet,
    LocationCreate,
    ReservationIn,
    ReservationLineIn,
)
from mercato.inventory.schemas import Address as PlaceAddress
from mercato.inventory.schemas_movements import ApplyIn, CountedIn, CountIn, TransferIn
from mercato.inventory.schemas_movements import ReceiveIn as TransferReceiveIn
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
from mercato.inventory.transfers import cancel as cancel_transfer
from mercato.inventory.transfers import create_transfer, get_transfer, in_transit, list_transfers
from mercato.inventory.transfers import receive as receive_transfer

__all__ = [
    "MAX_LINES", "MAX_UNITS", "AdjustmentIn", "AdjustmentLine", "ApplyIn",
    "AvailabilityListener", "BufferIn", "ChannelCreate", "ChannelUpdate", "CountIn",
    "CountedIn", "InsufficientStock", "Level", "LevelSet", "Located", "Location", "LocationCreate",
    "PlaceAddress", "PublishedNumber", "PurchaseOrderCreate", "PurchaseReceiveIn",
    "Reservation", "ReservationIn", "ReservationLineIn", "SalesChannel", "TransferIn",
    "TransferReceiveIn", "adjust", "apply_count", "available_to_sell", "buffers_of",
    "cancel_count", "cancel_purchase_order", "cancel_transfer", "candidates", "channel_of_kind",
    "commit", "count_variance", "create_channel", "create_count", "create_location",
    "create_purchase_order", "create_transfer", "digital_location", "emails_buyers",
    "find_location",
    "find_public_locations", "get_channel",
    "get_count", "get_location", "get_purchase_order", "get_transfer", "in_transit", "levels",
    "list_channels", "list_counts", "list_levels", "list_purchase_orders", "list_transfers",
    "location_id", "location_ids_by_name", "on_published", "parse_point", "places",
    "rebuild_levels",
    "receive_purchase_order", "receive_transfer", "record_counts", "release", "reserve",
    "restock", "sell", "sellable", "set_buffers", "set_level", "take_what_is_free",
    "update_channel", "valuation", "valuation_csv", "verify_ledger", "web_channel",
]
