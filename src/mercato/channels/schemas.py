"""HTTP shapes of connections, mappings and sync jobs."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ConnectionKind = Literal["shopify", "binderpos"]
Mode = Literal["channel", "system_of_record"]
JobKind = Literal["product_import", "product_export", "inventory_push", "order_pull",
                  "price_push", "fulfillment_push", "cancellation_push", "refund_push",
                  "subscribe_webhooks"]
PER_ITEM = ("fulfillment_push", "cancellation_push", "refund_push")
"""Kinds that send one thing each (several may wait at once)."""
SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9.-]{0,250}")
SCHEDULABLE = ("product_import", "product_export", "inventory_push", "order_pull", "price_push")
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class ShopifyCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access_token: str = Field(min_length=8, max_length=255, description=(
        "The Admin API access token of a custom app (`shpat_…`)."))
    client_secret: str = Field(min_length=8, max_length=255, description=(
        "The app's client secret: Shopify signs webhooks with it."))


class ConnectionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    remote_location_id: str | None = Field(default=None, max_length=255, description=(
        "Channel mode: the platform location that shows the channel's available-to-sell. "
        "The first active location when unset."))
    bucket_size: int = Field(default=2000, ge=50, le=100_000, description=(
        "Shopify's cost bucket size (the responses' `maximumAvailable` wins once seen)."))
    restore_rate: float = Field(default=100.0, gt=0, le=100_000, description=(
        "Points per second the bucket refills (100 standard, 1000 Plus; learned too)."))
    schedules: dict[str, int] = Field(default_factory=dict, description=(
        "Seconds between scheduled runs by job kind, e.g. `{\"order_pull\": 600}`."))
    push_fulfillments: bool = Field(default=True, description=(
        "Send fulfillments made in Mercato for this channel's orders back to the platform."))
    push_cancellations: bool = Field(default=True, description=(
        "Send cancellations of whole orders made in Mercato for this channel's orders back "
        "to the platform (the platform notifies the buyer)."))
    push_refunds: bool = Field(default=True, description=(
        "Send refunds made in Mercato for this channel's orders back to the platform (the "
        "amount, against the order's payments; the platform notifies the buyer)."))
    webhook_url: str | None = Field(default=None, max_length=500, description=(
        "Public URL of `/webhooks/shopify/{store}`: when set, connecting subscribes the "
        "platform's webhooks to it."))


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ConnectionKind
    mode: Mode = Field(default="channel", description=(
        "`channel`: Mercato is the source of truth and pushes stock. `system_of_record`: the "
        "catalog and stock come from the platform. BinderPOS is always the latter."))
    account: str = Field(min_length=1, max_length=500, description=(
        "The shop's domain, e.g. `card-store.myshopify.com`; a URL such as "
        "`https://Card-Store.myshopify.com/` is taken as its host, and the account is stored "
        "and compared lowercase. One connection per shop and organization: Shopify and "
        "BinderPOS count as one platform (409)."))
    api_version: str = Field(default="2026-10", pattern=r"^20\d\d-(01|04|07|10)$")
    api_base: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=500,
                                 description=(
        "Where the API is, when not at `https://{account}` (the emulator, a proxy)."))
    credentials: ShopifyCredentials | None = Field(default=None, description=(
        "Required when connecting; omitted on an update, the stored ones are kept."))
    settings: ConnectionSettings = Field(default_factory=ConnectionSettings)
    enabled: bool = True

    @field_validator("account")
    @classmethod
    def _normalise_account(cls, value: str) -> str:
        account = normalise_account(value)
        if not SHOP_DOMAIN.fullmatch(account):
            raise ValueError("must be a shop domain such as card-store.myshopify.com")
        return account


def normalise_account(account: str) -> str:
    """A shop domain as Mercato stores and compares it: no scheme, no path, lowercase."""
    host = account.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme):]
    return host.split("/", 1)[0].rstrip(".").lower()


class SecretHint(BaseModel):
    set: bool
    last4: str | None


class Health(BaseModel):
    status: Literal["ok", "failing", "unknown", "disabled"] = Field(description=(
        "`failing` when the last call failed, the circuit is open, or the last webhook was "
        "refused for its signature (none has verified since)."))
    last_success_at: dt.datetime | None
    last_error_at: dt.datetime | None
    last_error: str | None
    last_error_kind: str | None
    circuit: dict[str, Any]
    signature_failures: int = Field(description=(
        "Webhooks refused (401) for a missing or bad signature since the credentials were "
        "last set."))
    last_signature_failure_at: dt.datetime | None
    last_webhook_at: dt.datetime | None = Field(description=(
        "When a webhook last passed its signature check (to within a few seconds)."))


class ConnectionOut(BaseModel):
    id: str
    channel_id: str
    kind: str
    mode: str
    account: str
    api_version: str
    api_base: str | None
    credentials: dict[str, SecretHint]
    settings: dict[str, Any]
    enabled: bool
    health: Health
    pending_pushes: int
    created_at: dt.datetime
    updated_at: dt.datetime


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resource: Literal["variant", "location"]
    local: str = Field(min_length=1, max_length=100, description=(
        "A variant's SKU, or a location's id or code."))
    remote_id: str = Field(min_length=1, max_length=255)
    remote_extra: str | None = Field(default=None, max_length=255, description=(
        "A variant's inventory item id on the platform."))


class MappingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mappings: list[MappingIn] = Field(min_length=1, max_length=1000)


class MappingOut(BaseModel):
    resource: str
    local_id: str
    sku: str | None = None
    remote_id: str
    remote_extra: str | None
    want_quantity: int | None
    remote_quantity: int | None
    in_sync: bool
    pushed_at: dt.datetime | None
    push_error: str | None


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: JobKind
    params: dict[str, Any] = Field(default_factory=dict, description=(
        "`order_pull`: `{\"since\": ISO time}`; `product_export`/`price_push`: "
        "`{\"skus\": [...]}` to limit it; `fulfillment_push`: `{\"order_id\", "
        "\"fulfillment_id\"}`; `cancellation_push`: `{\"order_id\", \"restock\"?}`; "
        "`refund_push`: `{\"order_id\", \"refund_id\"}` (these three are queued by "
        "themselves)."))


class ItemErrorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    item: str
    kind: str
    message: str
    created_at: dt.datetime


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    connection_id: str
    kind: str
    trigger: str
    status: str = Field(description="`queued`, `running`, `succeeded` (every item applied), "
                        "`completed_with_errors` (ran to the end; the items in `errors` were "
                        "skipped), `failed` or `cancelled`.")
    params: dict[str, Any]
    total: int | None
    done: int
    failed: int
    attempts: int
    error: str | None
    error_kind: str | None
    cancel_requested: bool
    retry_of: str | None
    run_after: dt.datetime
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    errors: list[ItemErrorOut] = Field(default_factory=list)


class WebhookAck(BaseModel):
    received: bool
    duplicate: bool
    topic: str
    processed: bool
    message: str | None = None
