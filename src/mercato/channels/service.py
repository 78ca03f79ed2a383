"""Connections (credentials sealed at rest, health) and id mappings.

A connection hangs off an inventory sales channel of the same kind; one per channel and one per
platform account and organization, so two Shopify stores are two channels with a connection
each. BinderPOS runs on a Shopify store: its connections count as Shopify's (``PLATFORM_OF``),
so a shop can never have two connections whose webhooks one lookup would have to choose between.
The database holds the rule (unique organization, platform, account).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato.catalog import latest_market_prices, market_price_history
from mercato.catalog.service import stock_items
from mercato.channels.models import Connection, Mapping
from mercato.channels.registry import ConnectionConfig
from mercato.channels.schemas import (
    CREDENTIALS_OF,
    ConnectionIn,
    ConnectionOut,
    Health,
    MappingIn,
    MappingOut,
    MarketPriceOut,
    SecretHint,
    normalise_account,
)
from mercato.core.db import Database, table_of, utcnow
from mercato.core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from mercato.core.secrets import Vault
from mercato.inventory import get_channel, get_location
from mercato.settings import Settings

mappings_t = table_of(Mapping)
connections_t = table_of(Connection)
SECRET_NAMES = {kind: tuple(model.model_fields) for kind, model in CREDENTIALS_OF.items()}
"""The secrets each kind holds, as its connection shows them (set or not, last four)."""
PLATFORM_OF = {"shopify": "shopify", "binderpos": "shopify", "tcgplayer": "tcgplayer",
               "ebay": "ebay", "amazon": "amazon", "shopee": "shopee", "tiktok": "tiktok"}
"""The platform each connection kind talks to; an account is unique per platform."""
WEBHOOK_SEEN_EVERY = dt.timedelta(seconds=5)


def get_connection(session: Session, channel_id: str) -> Connection:
    connection = session.scalar(select(Connection).where(Connection.channel_id == channel_id))
    if connection is None:
        get_channel(session, channel_id)  # 404 for the channel first
        raise NotFound(f"Channel {channel_id!r} has no connection.")
    return connection


def connections_by_channel(session: Session) -> dict[str, Connection]:
    """Every connection of the organization, by its channel's id."""
    return {c.channel_id: c for c in session.scalars(select(Connection))}


def connections_of(session: Session, kind: str, *, enabled: bool = True) -> list[Connection]:
    """The organization's connections of one kind, oldest first (a webhook route picks among
    them by the account its notification names)."""
    stmt = select(Connection).where(Connection.kind == kind).order_by(Connection.id)
    if enabled:
        stmt = stmt.where(Connection.enabled.is_(True))
    return list(session.scalars(stmt))


def webhook_endpoint(connection: Connection, settings: Settings, store: str) -> str:
    """The URL a platform calls for this connection (and signs over, for eBay's challenge and
    Shopee's pushes): its ``webhook_url``, else ``MERCATO_PUBLIC_URL`` +
    ``/webhooks/{kind}/{store}``."""
    url = (connection.settings or {}).get("webhook_url")
    if url:
        return str(url)
    base = (settings.public_url or "").rstrip("/")
    return f"{base}/webhooks/{connection.kind}/{store}"


def find_by_account(session: Session, platform: str, account: str) -> Connection | None:
    """The organization's one connection to this platform account (compared normalised)."""
    return session.scalar(select(Connection).where(
        Connection.platform == platform,
        Connection.account == normalise_account(account, platform)))


def _account_taken(session: Session, connection: Connection) -> None:
    """Write the connection; 409 when another connection of the organization holds its
    platform account (naming that one's channel). The unique key decides between concurrent
    requests."""
    stmt = select(Connection).where(Connection.platform == connection.platform,
                                    Connection.account == connection.account)
    if connection.id is not None:
        stmt = stmt.where(Connection.id != connection.id)
    with session.no_autoflush:
        other = session.scalar(stmt.limit(1))

    def taken(holder: Connection | None) -> Conflict:
        where = (f"channel {holder.channel_id} ({holder.kind})" if holder is not None
                 else "another channel")
        return Conflict(
            f"{connection.account} is already connected to {where}: a platform account has "
            "one connection per organization, Shopify and BinderPOS counting as one platform.",
            errors=[{"field": "account", "message": "already connected to another channel"}],
            extra={"channel_id": holder.channel_id} if holder is not None else None)

    if other is not None:
        raise taken(other)
    try:
        with session.begin_nested():
            session.add(connection)
            session.flush()
    except IntegrityError:
        raise taken(None) from None


def connect(session: Session, channel_id: str, data: ConnectionIn,
            settings: Settings | None = None) -> tuple[Connection, bool]:
    """Create or replace the channel's connection; (connection, created)."""
    channel = get_channel(session, channel_id)
    if channel.kind != data.kind:
        raise ValidationFailed(
            f"A {data.kind} connection needs a channel of kind {data.kind!r}.",
            errors=[{"field": "kind", "message": f"the channel's kind is {channel.kind!r}"}])
    mode = "system_of_record" if data.kind == "binderpos" else data.mode
    if data.kind == "binderpos" and data.mode != "system_of_record":
        raise ValidationFailed("BinderPOS is always the system of record.", errors=[
            {"field": "mode", "message": "must be system_of_record for binderpos"}])
    if data.kind not in ("shopify", "binderpos") and data.mode != "channel":
        raise ValidationFailed(f"A {data.kind} connection is always in channel mode: Mercato "
                               "is the source of truth and pushes stock.", errors=[
            {"field": "mode", "message": f"must be channel for {data.kind}"}])
    vault = Vault.of(session, "channels", settings)
    connection = session.scalar(select(Connection).where(Connection.channel_id == channel_id)
                                .with_for_update())
    created = connection is None
    if connection is None:
        if data.credentials is None:
            raise ValidationFailed("Credentials are required to connect.", errors=[
                {"field": "credentials", "message": "required"}])
        connection = Connection(channel_id=channel_id, circuit={}, cursors={})
    if data.credentials is not None:
        secrets = data.credentials.model_dump(exclude_none=True)
        connection.credentials = vault.seal(json.dumps(secrets))
        connection.credential_hints = {name: value[-4:] for name, value in secrets.items()}
        connection.signature_failures = 0  # counted against the secret now in use
    account = normalise_account(data.account, data.kind)
    if not created and (connection.account != account or connection.kind != data.kind):
        connection.cursors = {}
    connection.kind = data.kind
    connection.platform = PLATFORM_OF[data.kind]
    connection.mode = mode
    connection.account = account
    connection.api_version = data.api_version or ""
    connection.api_base = data.api_base
    connection.settings = data.settings.model_dump()
    connection.enabled = data.enabled
    _account_taken(session, connection)
    return connection, created


def disconnect(session: Session, channel_id: str) -> None:
    session.delete(get_connection(session, channel_id))
    session.flush()


def config_of(session: Session, connection: Connection,
              settings: Settings | None = None) -> ConnectionConfig:
    secrets = json.loads(Vault.of(session, "channels", settings).open(connection.credentials))
    return ConnectionConfig(
        id=connection.id, organization_id=connection.organization_id,
        channel_id=connection.channel_id, kind=connection.kind, mode=connection.mode,
        account=connection.account, api_version=connection.api_version,
        api_base=connection.api_base, secrets=secrets, settings=dict(connection.settings))


def record_health(session: Session, connection_id: str, *, error: str | None = None,
                  error_kind: str | None = None,
                  circuit: dict[str, Any] | None = None) -> None:
    """A call to the platform worked (``error`` None) or failed; the breaker's state too.

    A success is written at most every few seconds while the connection is healthy: every
    webhook succeeds, and one row written by all of them would serialize them."""
    now = utcnow()
    stmt = update(connections_t).where(connections_t.c.id == connection_id)
    if error is None:
        values: dict[str, Any] = {"last_success_at": now}
        if circuit is None:
            stmt = stmt.where(or_(
                connections_t.c.last_success_at.is_(None),
                connections_t.c.last_success_at < now - dt.timedelta(seconds=5),
                connections_t.c.last_error_at > connections_t.c.last_success_at))
    else:
        values = {"last_error_at": now, "last_error": error[:2000], "last_error_kind": error_kind}
    if circuit is not None:
        values["circuit"] = circuit
    session.execute(stmt.values(**values))


def save_secrets(db: Database, config: ConnectionConfig, values: dict[str, str | None]) -> None:
    """Merge secrets a connector obtained (a token from an authorization code, a refreshed
    token) into the connection's sealed credentials; ``None`` removes one (a used code).
    Kept sealed like the ones given, so a restart does not lose what cannot be asked again."""
    with db.transaction(tenant=config.organization_id) as session:
        connection = session.get(Connection, config.id, with_for_update=True)
        if connection is None:
            return
        vault = Vault.of(session, "channels")
        secrets = json.loads(vault.open(connection.credentials))
        for name, value in values.items():
            if value is None:
                secrets.pop(name, None)
            else:
                secrets[name] = value
        connection.credentials = vault.seal(json.dumps(secrets))
        connection.credential_hints = {name: value[-4:] for name, value in secrets.items()
                                       if name in SECRET_NAMES.get(connection.kind, ())}


def record_signature_failure(db: Database, organization_id: str, connection_id: str,
                             message: str | None = None) -> None:
    """A webhook refused for its signature, counted in a transaction of its own: the
    request's own transaction rolls back with its 401."""
    now = utcnow()
    with db.transaction(tenant=organization_id) as session:
        session.execute(update(connections_t).where(connections_t.c.id == connection_id).values(
            signature_failures=connections_t.c.signature_failures + 1,
            last_signature_failure_at=now, last_error_at=now, last_error_kind="auth",
            last_error=message or "A webhook was refused: its X-Shopify-Hmac-Sha256 does not "
                                  "verify with this connection's client secret."))


class SignatureRefused(Unauthorized):
    """A platform's webhook refused for its signature (401): the route counts it in the
    connection's health, in a transaction of its own once the request's has rolled back."""

    def __init__(self, connection: Connection, message: str, *,
                 health: str | None = None) -> None:
        super().__init__(message)
        self.connection_id, self.organization_id = connection.id, connection.organization_id
        self.health = health or message
        """What the connection's health shows as its last error."""


def connection_of(session: Session, connection_id: str) -> Connection | None:
    """The connection a queued webhook names (None when it was deleted since)."""
    return session.scalar(select(Connection).where(Connection.id == connection_id))


def record_webhook_verified(session: Session, connection_id: str) -> None:
    """A webhook passed its signature check: written at most every few seconds (every
    webhook passes, and one row written by all of them would serialize them), and at once
    after a refused one."""
    now = utcnow()
    session.execute(update(connections_t).where(
        connections_t.c.id == connection_id,
        or_(connections_t.c.last_webhook_at.is_(None),
            connections_t.c.last_webhook_at < now - WEBHOOK_SEEN_EVERY,
            connections_t.c.last_signature_failure_at >= connections_t.c.last_webhook_at))
        .values(last_webhook_at=now))


def health_of(connection: Connection) -> Health:
    failed_at, verified_at = connection.last_signature_failure_at, connection.last_webhook_at
    refused = bool(connection.signature_failures) and failed_at is not None and (
        verified_at is None or failed_at > verified_at)
    if not connection.enabled:
        status = "disabled"
    elif connection.last_error_at is None and connection.last_success_at is None:
        status = "unknown"
    elif refused or (connection.last_error_at is not None and (
            connection.last_success_at is None
            or connection.last_error_at > connection.last_success_at
            or connection.circuit.get("state") == "open")):
        status = "failing"
    else:
        status = "ok"
    return Health(status=status, last_success_at=connection.last_success_at,
                  last_error_at=connection.last_error_at, last_error=connection.last_error,
                  last_error_kind=connection.last_error_kind,
                  circuit=connection.circuit or {"state": "closed"},
                  signature_failures=connection.signature_failures or 0,
                  last_signature_failure_at=connection.last_signature_failure_at,
                  last_webhook_at=connection.last_webhook_at)


def pending_pushes(session: Session, connection_id: str) -> int:
    return session.scalar(select(func.count()).select_from(mappings_t).where(
        mappings_t.c.connection_id == connection_id, mappings_t.c.resource == "variant",
        mappings_t.c.pushed_version < mappings_t.c.want_version)) or 0


def connection_out(session: Session, connection: Connection) -> ConnectionOut:
    hints = connection.credential_hints or {}
    return ConnectionOut(
        id=connection.id, channel_id=connection.channel_id, kind=connection.kind,
        mode=connection.mode, account=connection.account,
        api_version=connection.api_version, api_base=connection.api_base,
        credentials={name: SecretHint(set=name in hints, last4=hints.get(name))
                     for name in SECRET_NAMES.get(connection.kind, ())},
        settings=connection.settings, enabled=connection.enabled,
        health=health_of(connection), pending_pushes=pending_pushes(session, connection.id),
        created_at=connection.created_at, updated_at=connection.updated_at)


# -- mappings -----------------------------------------------------------------------------------

def put_mappings(session: Session, connection: Connection, entries: list[MappingIn]) -> int:
    """Map SKUs and locations to platform ids (replacing what each was mapped to)."""
    skus = [e.local for e in entries if e.resource == "variant"]
    items = {i.sku: i.id for i in stock_items(session, skus=skus)} if skus else {}
    errors: list[dict[str, Any]] = []
    resolved: list[tuple[MappingIn, str]] = []
    for i, entry in enumerate(entries):
        if entry.resource == "variant":
            if entry.local not in items:
                errors.append({"field": f"mappings.{i}.local",
                               "message": f"no variant with SKU {entry.local!r}"})
                continue
            resolved.append((entry, items[entry.local]))
        else:
            try:
                resolved.append((entry, get_location(session, entry.local).id))
            except NotFound:
                errors.append({"field": f"mappings.{i}.local",
                               "message": f"no location {entry.local!r}"})
    seen: dict[tuple[str, str], int] = {}
    for i, (entry, _) in enumerate(resolved):
        if (entry.resource, entry.remote_id) in seen:
            errors.append({"field": f"mappings.{i}.remote_id",
                           "message": "mapped twice in this request"})
        seen[(entry.resource, entry.remote_id)] = i
    if errors:
        raise ValidationFailed("Invalid mappings.", errors=errors)
    for entry, local_id in resolved:
        map_one(session, connection.id, entry.resource, local_id, entry.remote_id,
                entry.remote_extra)
    return len(resolved)


def map_one(session: Session, connection_id: str, resource: str, local_id: str,
            remote_id: str, remote_extra: str | None = None) -> Mapping:
    """Upsert one mapping; a platform id mapped to another local record moves here."""
    rows = list(session.scalars(select(Mapping).where(
        Mapping.connection_id == connection_id, Mapping.resource == resource,
        (Mapping.local_id == local_id) | (Mapping.remote_id == remote_id))))
    mine = next((m for m in rows if m.local_id == local_id), None)
    for other in rows:
        if other is not mine:
            session.delete(other)
    session.flush()
    if mine is None:
        mine = Mapping(connection_id=connection_id, resource=resource, local_id=local_id,
                       remote_id=remote_id, remote_extra=remote_extra)
        session.add(mine)
    else:
        if mine.remote_id != remote_id or mine.remote_extra != remote_extra:
            mine.remote_quantity = None  # a different platform item: its quantity is unknown
        mine.remote_id, mine.remote_extra = remote_id, remote_extra
    session.flush()
    return mine


def list_mappings(session: Session, connection: Connection, *, resource: str,
                  limit: int = 500, sku: str | None = None) -> list[MappingOut]:
    stmt = select(Mapping).where(Mapping.connection_id == connection.id,
                                 Mapping.resource == resource).order_by(Mapping.id).limit(limit)
    if sku is not None:
        items = stock_items(session, skus=[sku])
        stmt = stmt.where(Mapping.local_id.in_([i.id for i in items]))
    rows = list(session.scalars(stmt))
    skus = ({i.id: i.sku for i in stock_items(session, ids=[m.local_id for m in rows])}
            if resource == "variant" else {})
    return [MappingOut(resource=m.resource, local_id=m.local_id, sku=skus.get(m.local_id),
                       remote_id=m.remote_id, remote_extra=m.remote_extra,
                       want_quantity=m.want_quantity, remote_quantity=m.remote_quantity,
                       in_sync=m.pushed_version >= m.want_version, pushed_at=m.pushed_at,
                       push_error=m.push_error) for m in rows]


def mapped(session: Session, connection_id: str, resource: str) -> dict[str, Mapping]:
    """A connection's mappings of one resource by local id."""
    return {m.local_id: m for m in session.scalars(select(Mapping).where(
        Mapping.connection_id == connection_id, Mapping.resource == resource))}


def market_prices(session: Session, connection: Connection, *, sku: str | None = None,
                  limit: int = 500) -> list[MarketPriceOut]:
    """The platform's latest market prices of the connection's linked variants; with ``sku``,
    that variant's history, newest first (catalog keeps the feed)."""
    links = mapped(session, connection.id, "variant")
    if sku is not None:
        items = [i for i in stock_items(session, skus=[sku]) if i.id in links]
        if not items:
            raise NotFound(f"No variant with SKU {sku!r} is linked on this channel.")
        quotes = market_price_history(session, items[0].id, source=connection.kind,
                                      limit=limit)
    else:
        ids = sorted(links)[:limit]
        quotes = sorted(latest_market_prices(session, ids, source=connection.kind).values(),
                        key=lambda q: q.variant_id)
    skus = {i.id: i.sku for i in stock_items(session, ids=[q.variant_id for q in quotes])}
    return [MarketPriceOut(sku=skus.get(q.variant_id), variant_id=q.variant_id,
                           remote_id=q.remote_id, currency=q.currency, low=q.low, mid=q.mid,
                           market=q.market, direct_low=q.direct_low, pulled_at=q.pulled_at)
            for q in quotes]
