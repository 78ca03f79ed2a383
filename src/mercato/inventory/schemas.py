"""HTTP shapes of the inventory API."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from mercato.core.addresses import PostalAddress

LocationKind = Literal["store", "warehouse", "virtual"]
AdjustReason = Literal["sale", "restock", "adjustment", "return", "count", "damage"]
SetReason = Literal["adjustment", "count", "restock", "damage"]
ChannelKind = Literal["web", "pos", "shopify", "tcgplayer", "ebay", "amazon", "shopee",
                      "tiktok", "binderpos", "manual", "other"]
PLATFORM_KINDS = frozenset({"shopify", "tcgplayer", "ebay", "amazon", "shopee", "tiktok",
                            "binderpos"})
"""Channel kinds that are another platform's marketplace or store: it emails its buyers."""
EMAIL_BUYERS = ("Email the buyers of this channel's orders (order placed, paid, shipped). "
                "Defaults by kind: on for `web`, `pos`, `manual` and `other`; off for platform "
                "kinds (`shopify`, `tcgplayer`, `ebay`, `amazon`, `shopee`, `tiktok`, "
                "`binderpos`), which email their buyers themselves.")
MAX_UNITS = 1_000_000
MAX_LINES = 250


class Address(PostalAddress):
    # a location's address; its own class (no docstring, no new field) keeps the OpenAPI
    # component it has always had (mercato__inventory__schemas__Address)
    pass


def _six_places(value: Decimal) -> Decimal:
    """Degrees are kept to six places (about 0.1 m), as the column stores them."""
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


Latitude = Annotated[Decimal, Field(ge=-90, le=90, description="Degrees north, -90 to 90."),
                     AfterValidator(_six_places),
                     PlainSerializer(float, return_type=float, when_used="json")]
Longitude = Annotated[Decimal, Field(ge=-180, le=180,
                                     description="Degrees east, -180 to 180."),
                      AfterValidator(_six_places),
                      PlainSerializer(float, return_type=float, when_used="json")]
CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


class OpeningInterval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    opens: str = Field(pattern=CLOCK, examples=["10:00"], description="Local time, HH:MM.")
    closes: str = Field(pattern=CLOCK, examples=["19:30"],
                        description="Local time, HH:MM, after `opens` (`24:00` for midnight).")

    @model_validator(mode="after")
    def _closes_after_opening(self) -> OpeningInterval:
        if self.closes <= self.opens:
            raise ValueError("closes must be after opens")
        return self


Intervals = list[OpeningInterval]


class OpeningHours(BaseModel):
    """Opening hours by weekday, in the location's local time; a day left out is closed."""

    model_config = ConfigDict(extra="forbid")
    mon: Intervals = Field(default_factory=list, max_length=4)
    tue: Intervals = Field(default_factory=list, max_length=4)
    wed: Intervals = Field(default_factory=list, max_length=4)
    thu: Intervals = Field(default_factory=list, max_length=4)
    fri: Intervals = Field(default_factory=list, max_length=4)
    sat: Intervals = Field(default_factory=list, max_length=4)
    sun: Intervals = Field(default_factory=list, max_length=4)
    note: str | None = Field(default=None, max_length=300,
                             description="Free text: holidays, tournament nights.")


class LocationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    code: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$",
                             description="Short unique code; other requests may name the "
                                         "location by it. Made from the name when omitted.")
    kind: LocationKind = "store"
    address: Address = Field(default_factory=Address)
    fulfills_online: bool = Field(default=True, description="Ships online orders.")
    pickup: bool = Field(default=False, description="Customers may pick up orders here.")
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    public: bool = Field(default=False, description="Listed in the store locator.")
    phone: str | None = Field(default=None, max_length=50)
    hours: OpeningHours | None = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> LocationCreate:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give latitude and longitude together")
        return self


class LocationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: LocationKind | None = None
    address: Address | None = None
    fulfills_online: bool | None = None
    pickup: bool | None = None
    active: bool | None = None
    latitude: Latitude | None = Field(default=None, description=(
        "Set with `longitude`; null both to remove the location from nearest-first search."))
    longitude: Longitude | None = None
    public: bool | None = None
    phone: str | None = Field(default=None, max_length=50)
    hours: OpeningHours | None = None


class LocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    name: str
    code: str
    kind: str
    address: dict[str, Any]
    fulfills_online: bool
    pickup: bool
    active: bool
    latitude: Latitude | None
    longitude: Longitude | None
    public: bool
    phone: str | None
    hours: dict[str, Any] | None
    created_at: dt.datetime
    updated_at: dt.datetime


class LevelOut(BaseModel):
    sku: str
    variant_id: str
    location_id: str
    on_hand: int
    reserved: int = Field(description="Held by active reservations (expired ones never count).")
    available: int = Field(description="on_hand - reserved.")
    safety_stock: int
    reorder_point: int | None
    reorder_quantity: int | None
    updated_at: dt.datetime


class LevelList(BaseModel):
    data: list[LevelOut]


class AdjustmentLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    location: str = Field(min_length=1, max_length=50, description="Location id or code.")
    delta: int = Field(ge=-MAX_UNITS, le=MAX_UNITS, description="Units in (+) or out (-); "
                       "never 0.")
    reason: AdjustReason = "adjustment"
    note: str | None = Field(default=None, max_length=2000)

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("must not be 0")
        return delta


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: list[AdjustmentLine] = Field(min_length=1, max_length=MAX_LINES)
    reference: str | None = Field(default=None, max_length=200,
                                  description="Recorded on each ledger row.")


class LevelSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    location: str = Field(min_length=1, max_length=50, description="Location id or code.")
    on_hand: int | None = Field(default=None, ge=0, le=MAX_UNITS)
    expected_on_hand: int | None = Field(
        default=None, ge=0, le=MAX_UNITS,
        description="Compare-and-set: 409 unless on hand is this now.")
    reason: SetReason = "adjustment"
    reference: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)
    safety_stock: int | None = Field(default=None, ge=0, le=MAX_UNITS,
                                     description="Units channels never sell.")
    reorder_point: int | None = Field(default=None, ge=0, le=MAX_UNITS,
                                      description="Low stock at or below this available.")
    reorder_quantity: int | None = Field(default=None, ge=1, le=MAX_UNITS)


class MovementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    variant_id: str
    location_id: str
    delta_on_hand: int
    delta_reserved: int
    reason: str
    reference: str | None
    note: str | None
    actor: str
    created_at: dt.datetime


class ReservationLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    quantity: int = Field(ge=1, le=MAX_UNITS)
    location: str | None = Field(default=None, max_length=50,
                                 description="Take from this location (id or code) only.")


class ReservationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str = Field(min_length=1, max_length=200, description=(
        "Unique per organization: the same reference with the same lines returns the first "
        "reservation (200) and holds nothing more."))
    channel: str | None = Field(default=None, max_length=26, description=(
        "Channel id: take from its locations in priority order, leaving safety stock."))
    expires_in_seconds: int = Field(default=900, ge=1, le=7 * 86400)
    lines: list[ReservationLineIn] = Field(min_length=1, max_length=MAX_LINES)


class ReservationLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    sku: str
    variant_id: str
    location_id: str
    quantity: int


class ReservationOut(BaseModel):
    id: str
    reference: str
    channel_id: str | None
    status: Literal["active", "committed", "released", "expired"]
    expires_at: dt.datetime
    created_at: dt.datetime
    closed_at: dt.datetime | None
    lines: list[ReservationLineOut]


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: ChannelKind
    locations: list[str] = Field(default_factory=list, max_length=100, description=(
        "Location ids or codes, in priority order."))
    default_buffer: int = Field(default=0, ge=0, le=MAX_UNITS)
    email_buyers: bool | None = Field(default=None, description=EMAIL_BUYERS)


class ChannelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: ChannelKind | None = Field(default=None, description=(
        "A new kind also resets `email_buyers` to that kind's default unless the same "
        "request sets it."))
    locations: list[str] | None = Field(default=None, max_length=100)
    default_buffer: int | None = Field(default=None, ge=0, le=MAX_UNITS)
    email_buyers: bool | None = Field(default=None, description=EMAIL_BUYERS)


def email_buyers_by_default(kind: str) -> bool:
    return kind not in PLATFORM_KINDS


class ChannelOut(BaseModel):
    id: str
    name: str
    kind: str
    locations: list[str] = Field(description="Location ids in priority order.")
    default_buffer: int
    email_buyers: bool = Field(description=EMAIL_BUYERS)
    created_at: dt.datetime
    updated_at: dt.datetime


class BufferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sku: str = Field(min_length=1, max_length=100)
    buffer: int | None = Field(ge=0, le=MAX_UNITS,
                               description="null removes it: the default applies again.")


class BuffersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    buffers: list[BufferIn] = Field(min_length=1, max_length=1000)


class BufferOut(BaseModel):
    sku: str
    buffer: int


class BuffersOut(BaseModel):
    channel_id: str
    default_buffer: int
    buffers: list[BufferOut]


class AvailabilityOut(BaseModel):
    channel_id: str
    sku: str
    variant_id: str
    available_to_sell: int
    buffer: int
    locations: list[dict[str, Any]]

