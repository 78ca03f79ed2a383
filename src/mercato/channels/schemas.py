"""HTTP shapes of connections, mappings and sync jobs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

ConnectionKind = Literal["shopify", "binderpos", "tcgplayer", "ebay", "amazon", "shopee", "tiktok"]
Mode = Literal["channel", "system_of_record"]
JobKind = Literal["product_import", "product_export", "inventory_push", "order_pull",
                  "price_push", "fulfillment_push", "cancellation_push", "refund_push",
                  "subscribe_webhooks", "price_pull"]
PER_ITEM = ("fulfillment_push", "cancellation_push", "refund_push")
"""Kinds that send one thing each (several may wait at once)."""
SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9.-]{0,250}")
ACCOUNT_FORMS: dict[str, tuple[re.Pattern[str], str]] = {
    "shopify": (SHOP_DOMAIN, "a shop domain such as card-store.myshopify.com"),
    "binderpos": (SHOP_DOMAIN, "a shop domain such as card-store.myshopify.com"),
    "tcgplayer": (re.compile(r"[a-z0-9][a-z0-9_-]{0,63}"),
                  "a TCGplayer store key (letters, digits, - and _)"),
    "ebay": (re.compile(r"[a-z0-9][a-z0-9._*-]{0,63}"),
             "an eBay user id (letters, digits, and . _ - *)"),
    "amazon": (re.compile(r"[A-Z0-9]{8,20}"), "an Amazon seller id (merchant token) such as "
               "A2EXAMPLE1SELLER"),
    "shopee": (re.compile(r"[1-9][0-9]{0,19}"), "a Shopee shop id (digits)"),
    "tiktok": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{3,127}"),
               "a TikTok Shop shop cipher such as ROW_AbCdEf12 (letters, digits, _ and -)"),
}
"""How each kind's ``account`` looks once normalised (no scheme or path; lowercase, but an
Amazon seller id uppercase and a TikTok shop cipher as given, since their case is part of
the id)."""
CASE_KEPT: dict[str, Callable[[str], str]] = {"amazon": str.upper, "tiktok": str.strip}
"""Kinds whose account ids are case-sensitive, and how their case is made canonical."""
API_VERSIONS = {"shopify": "2026-10", "binderpos": "2026-10", "tcgplayer": "v1.39.0",
                "ebay": "v1", "amazon": "2021-08-01", "shopee": "v2", "tiktok": "202309"}
"""The API version a connection uses when none is given."""
SHOPIFY_VERSION = re.compile(r"20\d\d-(01|04|07|10)")
SCHEDULABLE = ("product_import", "product_export", "inventory_push", "order_pull", "price_push",
               "price_pull")
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class ShopifyCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access_token: str = Field(min_length=8, max_length=255, description=(
        "The Admin API access token of a custom app (`shpat_…`)."))
    client_secret: str = Field(min_length=8, max_length=255, description=(
        "The app's client secret: Shopify signs webhooks with it."))


class TcgplayerCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(min_length=8, max_length=255, description=(
        "The API application's public key (the OAuth client id)."))
    private_key: str = Field(min_length=8, max_length=255, description=(
        "The API application's private key (the OAuth client secret)."))
    access_token: str | None = Field(default=None, min_length=8, max_length=500, description=(
        "The store's access token, when the store has authorized the application already."))
    authorization_code: str | None = Field(default=None, min_length=6, max_length=64,
                                           description=(
        "The store's authorization code (six characters, valid for an hour): exchanged for "
        "the store's access token at the first call."))

    @model_validator(mode="after")
    def _store_access(self) -> TcgplayerCredentials:
        if self.access_token is None and self.authorization_code is None:
            raise ValueError("give the store's access_token or its authorization_code")
        return self


class EbayCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=8, max_length=255, description="The app's client id.")
    client_secret: str = Field(min_length=8, max_length=255, description=(
        "The app's client secret."))
    refresh_token: str = Field(min_length=8, max_length=2000, description=(
        "The seller's user refresh token (scopes `sell.inventory`, `sell.fulfillment`, "
        "`sell.account`): access tokens are minted from it and renewed before they expire."))


class AmazonCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=8, max_length=255, description=(
        "The Login with Amazon client id of the SP-API application (`amzn1.application-oa2-"
        "client.…`)."))
    client_secret: str = Field(min_length=8, max_length=255, description=(
        "The LWA client secret."))
    refresh_token: str = Field(min_length=8, max_length=2000, description=(
        "The seller's LWA refresh token (`Atzr|…`): access tokens, valid an hour, are "
        "minted from it."))


class ShopeeCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner_id: str = Field(min_length=1, max_length=20, pattern=r"^[1-9][0-9]*$",
                            description="The Open Platform app's partner id.")
    partner_key: str = Field(min_length=8, max_length=255, description=(
        "The app's partner key: it signs every call and Shopee's pushes."))
    access_token: str = Field(min_length=8, max_length=500, description=(
        "The shop's access token (valid 4 hours; renewed with the refresh token)."))
    refresh_token: str = Field(min_length=8, max_length=500, description=(
        "The shop's refresh token (valid 30 days; each renewal gives a new one)."))


class TiktokCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app_key: str = Field(min_length=4, max_length=255, description="The app's key.")
    app_secret: str = Field(min_length=8, max_length=255, description=(
        "The app's secret: it signs every call and TikTok Shop's webhooks."))
    access_token: str = Field(min_length=8, max_length=2000, description=(
        "The shop's access token (`x-tts-access-token`; renewed with the refresh token)."))
    refresh_token: str = Field(min_length=8, max_length=2000, description=(
        "The shop's refresh token."))


Credentials = (ShopifyCredentials | TcgplayerCredentials | EbayCredentials | AmazonCredentials
               | ShopeeCredentials | TiktokCredentials)
CREDENTIALS_OF: dict[str, type[BaseModel]] = {
    "shopify": ShopifyCredentials, "binderpos": ShopifyCredentials,
    "tcgplayer": TcgplayerCredentials, "ebay": EbayCredentials, "amazon": AmazonCredentials,
    "shopee": ShopeeCredentials, "tiktok": TiktokCredentials}


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
    cancel_oversold: bool | None = Field(default=None, description=(
        "Cancel an order from the platform of which no unit could be covered (another "
        "channel sold the last copy first), which sends the cancellation back to the "
        "platform. Unset: on for marketplaces (TCGplayer, eBay, Amazon, Shopee, TikTok "
        "Shop), off for Shopify."))
    webhook_url: str | None = Field(default=None, max_length=500, description=(
        "Public URL of `/webhooks/{kind}/{store}`: when set, connecting Shopify subscribes its "
        "webhooks to it; eBay answers its endpoint challenge with it."))
    rate_per_second: float | None = Field(default=None, gt=0, le=1000, description=(
        "Requests per second the client keeps under (TCGplayer: 10 when unset)."))
    verification_token: str | None = Field(default=None, min_length=32, max_length=80,
                                           pattern=r"^[A-Za-z0-9_-]+$", description=(
        "eBay: the verification token given for the notification endpoint (its challenge "
        "response is SHA-256 of challenge code + this token + `webhook_url`)."))
    marketplace_id: str = Field(default="EBAY_US", pattern=r"^[A-Z_]{3,20}$", description=(
        "eBay: the marketplace offers are published on."))
    content_language: str = Field(default="en-US", pattern=r"^[a-z]{2}-[A-Z]{2}$",
                                  description="eBay: the inventory items' `Content-Language`.")
    category_id: str = Field(default="183454", pattern=r"^[0-9]{1,10}$", description=(
        "eBay: the leaf category of new offers (183454: CCG Individual Cards)."))
    merchant_location_key: str | None = Field(default=None, max_length=36, description=(
        "eBay: the inventory location offers ship from."))
    fulfillment_policy_id: str | None = Field(default=None, max_length=40)
    payment_policy_id: str | None = Field(default=None, max_length=40)
    return_policy_id: str | None = Field(default=None, max_length=40)
    daily_revision_limit: int = Field(default=250, ge=1, le=10_000, description=(
        "eBay: revisions a listing may take in a day; pushes beyond it wait for the next "
        "day (reported on the mapping)."))
    marketplace_ids: list[Annotated[str, Field(pattern=r"^[A-Z0-9]{10,16}$")]] = Field(
        default_factory=lambda: ["ATVPDKIKX0DER"], min_length=1, max_length=20, description=(
            "Amazon: the marketplaces listings are updated and orders pulled in "
            "(ATVPDKIKX0DER: amazon.com)."))
    product_type: str = Field(default="PRODUCT", pattern=r"^[A-Z][A-Z0-9_]{1,59}$",
                              description=(
        "Amazon: the `productType` sent with listing patches (`PRODUCT` suits offer-only "
        "changes such as quantity and price)."))
    feed_threshold: int = Field(default=20, ge=2, le=10_000, description=(
        "Amazon: SKUs changed at once from which a `JSON_LISTINGS_FEED` is sent instead of "
        "one listing patch each."))
    location_id: str | None = Field(default=None, max_length=64, description=(
        "Shopee: the warehouse (`location_id`) stock is set at, for multi-warehouse shops."))
    shop_id: str | None = Field(default=None, max_length=64, pattern=r"^[0-9A-Za-z_-]+$",
                                description=(
        "TikTok Shop: the shop's id, which its webhooks name (the account is the shop "
        "cipher)."))
    warehouse_id: str | None = Field(default=None, max_length=64, description=(
        "TikTok Shop: the warehouse quantities are set at (the SKU's first when unset)."))


COMMON_SETTINGS = ("schedules", "push_fulfillments", "push_cancellations", "push_refunds",
                   "cancel_oversold", "webhook_url")
SETTINGS_OF: dict[str, tuple[str, ...]] = {
    "shopify": (*COMMON_SETTINGS, "remote_location_id", "bucket_size", "restore_rate"),
    "binderpos": (*COMMON_SETTINGS, "remote_location_id", "bucket_size", "restore_rate"),
    "tcgplayer": (*COMMON_SETTINGS, "rate_per_second"),
    "ebay": (*COMMON_SETTINGS, "rate_per_second", "verification_token", "marketplace_id",
             "content_language", "category_id", "merchant_location_key",
             "fulfillment_policy_id", "payment_policy_id", "return_policy_id",
             "daily_revision_limit"),
    "amazon": (*COMMON_SETTINGS, "marketplace_ids", "product_type", "feed_threshold"),
    "shopee": (*COMMON_SETTINGS, "rate_per_second", "location_id"),
    "tiktok": (*COMMON_SETTINGS, "rate_per_second", "shop_id", "warehouse_id"),
}
"""The settings each kind uses (the admin's form shows these; the others keep defaults)."""


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: ConnectionKind
    mode: Mode = Field(default="channel", description=(
        "`channel`: Mercato is the source of truth and pushes stock. `system_of_record`: the "
        "catalog and stock come from the platform. BinderPOS is always the latter."))
    account: str = Field(min_length=1, max_length=500, description=(
        "The platform account: Shopify's shop domain (`card-store.myshopify.com`; a URL "
        "such as `https://Card-Store.myshopify.com/` is taken as its host), TCGplayer's "
        "store key, eBay's user id, Amazon's seller id, Shopee's shop id, TikTok Shop's shop "
        "cipher. Stored and compared lowercase (an Amazon seller id uppercase, a shop cipher "
        "as given). One connection per "
        "account and organization: Shopify and BinderPOS count as one platform (409)."))
    api_version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,20}$",
                                    description=(
        "Shopify: a quarterly version such as `2026-10` (the default). Other platforms: "
        "their current version when omitted."))
    api_base: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=500,
                                 description=(
        "Where the API is, when not at `https://{account}` (the emulator, a proxy)."))
    credentials: Credentials | None = Field(default=None, description=(
        "The platform's own (see the kinds' fields). Required when connecting; omitted on "
        "an update, the stored ones are kept."))
    settings: ConnectionSettings = Field(default_factory=ConnectionSettings)
    enabled: bool = True

    @field_validator("account")
    @classmethod
    def _account_of_kind(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind") or "shopify"
        account = normalise_account(value, kind)
        form, what = ACCOUNT_FORMS.get(kind, ACCOUNT_FORMS["shopify"])
        if not form.fullmatch(account):
            raise ValueError(f"must be {what}")
        return account

    @field_validator("api_version")
    @classmethod
    def _version_of_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if value is not None and kind in ("shopify", "binderpos") and not (
                SHOPIFY_VERSION.fullmatch(value)):
            raise ValueError("must be a Shopify version such as 2026-10")
        return value

    @model_validator(mode="before")
    @classmethod
    def _credentials_of_kind(cls, data: Any) -> Any:
        """Credentials read as the kind's own model, so an error names the field
        (``credentials.access_token``), not a member of the union."""
        if not isinstance(data, dict) or not isinstance(data.get("credentials"), dict):
            return data
        model = CREDENTIALS_OF.get(data.get("kind"))  # type: ignore[arg-type]
        if model is None:
            return data
        try:
            return {**data, "credentials": model.model_validate(data["credentials"])}
        except ValidationError as exc:
            errors: list[Any] = []  # pydantic_core.InitErrorDetails
            for error in exc.errors():
                detail = {"type": error["type"], "input": error["input"],
                          "loc": ("credentials", *error["loc"])}
                if "ctx" in error:
                    detail["ctx"] = error["ctx"]
                errors.append(detail)
            raise ValidationError.from_exception_data(cls.__name__, errors) from None

    @model_validator(mode="after")
    def _default_version(self) -> ConnectionIn:
        if self.api_version is None:
            self.api_version = API_VERSIONS[self.kind]
        return self


def normalise_account(account: str, kind: str = "shopify") -> str:
    """An account as Mercato stores and compares it: no scheme, no path, lowercase (or in
    the kind's own case, ``CASE_KEPT``)."""
    host = account.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme):]
    return CASE_KEPT.get(kind, str.lower)(host.split("/", 1)[0].rstrip("."))


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


class MarketPriceOut(BaseModel):
    sku: str | None
    variant_id: str
    remote_id: str | None = Field(description="The platform's id of what was priced (a "
                                  "TCGplayer SKU id).")
    currency: str
    low: Decimal | None
    mid: Decimal | None = Field(description="Not given by TCGplayer's SKU prices: null.")
    market: Decimal | None
    direct_low: Decimal | None
    pulled_at: dt.datetime
