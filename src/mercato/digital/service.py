"""Digital delivery: how each digital variant is delivered, its licence-key pool (the pool is
the variant's stock), its stored files and signed download links, and the delivery of every
paid order line (docs/digital.md).

The pool is stock: every undrawn key is one unit on hand at the organization's digital
location (``inventory.digital_location``), so checkout's reservation holds a key as it holds
any unit (all or nothing, the same locks, ``insufficient_stock`` when the pool is empty), and
the sale takes the unit. When the order is paid (``order.paid``) one specific key is drawn for
good per unit: a conditional update of one undrawn row (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite writers are serialized already) under the unique key (order line, unit),
so every key goes to exactly one unit and every unit gets exactly one key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import socket
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato.catalog.service import SaleItem, sale_items
from mercato.core import queue as leases
from mercato.core.db import SYSTEM, Database, get_owned, set_tenant, tenant_of, utcnow
from mercato.core.egress import check_url
from mercato.core.errors import (
    Conflict,
    Forbidden,
    MercatoError,
    NotFound,
    ValidationFailed,
)
from mercato.core.ids import new_id
from mercato.core.outbox import not_paused, record_event
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.core.retry import backoff
from mercato.core.secrets import Vault, derived_key
from mercato.digital.models import Delivery, DigitalFile, DigitalGood, LicenceKey
from mercato.digital.schemas import GoodIn
from mercato.identity import record_audit
from mercato.inventory import (
    AdjustmentIn,
    AdjustmentLine,
    LevelSet,
    adjust,
    digital_location,
    levels,
    set_level,
)
from mercato.notifications.service import queue as queue_email
from mercato.orders import Order
from mercato.orders.service import get_order
from mercato.settings import Settings, get_settings
from mercato.tenancy.service import get_organization

log = structlog.get_logger("mercato.digital")

MAX_FILE_BYTES = 10 * 1024 * 1024
"""Largest file kept for download links (its bytes live in the database)."""
MAX_KEYS = 10_000
"""Most keys one upload may hold."""
MAX_KEY_CHARS = 500
MAX_ATTEMPTS = 8
"""Attempts before a delivery is ``failed`` for good (staff may retry it)."""
LEASE_SECONDS = 60
SEALING = "digital.licence-keys"
FINGERPRINTS = "digital.licence-key-fingerprints"
LINKS = "digital.download-links"
LOCAL_METHODS = frozenset({"key_pool", "download", "email"})
"""Methods whose delivery is database work only: done in the paying event's transaction."""


class LinkExpired(MercatoError):
    """A download link past its expiry."""

    status, code = 410, "link_expired"


class LinkInvalid(Forbidden):
    """A download link whose signature does not match (altered, or not Mercato's)."""

    code = "link_invalid"


# -- what is digital ------------------------------------------------------------------------------

def digital_item(session: Session, variant_id: str, *, field: str = "variant_id",
                 reading: bool = False) -> SaleItem:
    """The variant as sold, if its product type is digital (404 unknown, 422 not digital;
    ``reading``: any variant, whose pool and files are then empty)."""
    item = sale_items(session, ids=[variant_id]).get(variant_id)
    if item is None:
        raise NotFound(f"No variant {variant_id!r}.")
    if not item.digital and not reading:
        raise ValidationFailed("The variant's product type is not digital.", errors=[
            {"field": field, "message": "its product type is not digital"}])
    return item


def get_good(session: Session, variant_id: str) -> DigitalGood:
    """The variant's delivery settings (made with defaults, unsaved, when none are stored):
    a key pool when it has keys, else manual."""
    digital_item(session, variant_id, reading=True)
    good = session.scalar(select(DigitalGood).where(DigitalGood.variant_id == variant_id))
    if good is not None:
        return good
    has_keys = session.scalar(select(func.count()).select_from(LicenceKey)
                              .where(LicenceKey.variant_id == variant_id))
    return DigitalGood(id=new_id(), variant_id=variant_id,
                       method="key_pool" if has_keys else "manual", webhook_url=None,
                       message="", low_pool_threshold=5, alert_email=None,
                       link_ttl_seconds=86400, created_at=utcnow(), updated_at=utcnow())


def set_good(session: Session, variant_id: str, data: GoodIn, settings: Settings) -> DigitalGood:
    """Save how the variant is delivered; a webhook's URL must be one Mercato may call."""
    digital_item(session, variant_id)
    if data.method == "webhook":
        if not data.webhook_url:
            raise ValidationFailed("A webhook delivery needs its URL.", errors=[
                {"field": "webhook_url", "message": "required for the webhook method"}])
        check_url(data.webhook_url, settings.webhook_allow_hosts, field="webhook_url",
                  resolve=False)
    good = session.scalar(select(DigitalGood).where(DigitalGood.variant_id == variant_id))
    if good is None:
        good = DigitalGood(variant_id=variant_id)
        session.add(good)
    good.method, good.webhook_url, good.message = data.method, data.webhook_url, data.message
    good.low_pool_threshold, good.alert_email = data.low_pool_threshold, data.alert_email
    good.link_ttl_seconds = data.link_ttl_seconds
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("The variant's delivery settings were saved meanwhile; try again.") \
            from None
    item = digital_item(session, variant_id)
    _sync_stock(session, item, good.method)
    return good


UNLIMITED = 1_000_000
"""Stock kept at the digital location for goods that do not run out (downloads, emails,
webhooks, manual deliveries): checkout holds and sells them as any unit; topped up as sold."""


def _on_hand(session: Session, variant_id: str) -> int:
    location = digital_location(session)
    found = levels(session, variant_ids=[variant_id], location_ids=[location.id])
    return found[0].on_hand if found else 0


def _sync_stock(session: Session, item: SaleItem, method: str) -> None:
    """The digital location's stock of the variant, as its method wants it: the undrawn keys
    for a key pool, ``UNLIMITED`` for anything else."""
    location = digital_location(session)
    target = pool(session, item.id).remaining if method == "key_pool" else UNLIMITED
    if _on_hand(session, item.id) != target:
        set_level(session, LevelSet(sku=item.sku, location=location.code, on_hand=target,
                                    reason="adjustment", note=f"digital delivery: {method}"))


def _stored_good(session: Session, variant_id: str) -> DigitalGood | None:
    return session.scalar(select(DigitalGood).where(DigitalGood.variant_id == variant_id))


# -- the key pool ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PoolFigures:
    """A pool's keys: all, drawn, and remaining (= the digital location's stock + keys of paid
    units not yet drawn)."""

    variant_id: str
    total: int
    drawn: int

    @property
    def remaining(self) -> int:
        return self.total - self.drawn


@dataclass(frozen=True)
class KeyUpload:
    """What an upload did: keys added, and those refused as duplicates (by position)."""

    added: int
    duplicates: list[dict[str, Any]]
    pool: PoolFigures


def parse_key_text(text: str) -> list[str]:
    """Keys from a text or CSV body: one per line, the first column of a CSV row (a ``key``
    header line is skipped); blank lines are ignored."""
    keys = []
    for number, line in enumerate(text.splitlines()):
        cell = line.split(",", 1)[0].strip().strip('"').strip()
        if number == 0 and cell.lower() in ("key", "keys", "licence_key", "license_key"):
            continue
        if cell:
            keys.append(cell)
    return keys


def _fingerprint(secret: bytes, variant_id: str, key: str) -> str:
    return hmac.new(secret, f"{variant_id}\x00{key}".encode(), hashlib.sha256).hexdigest()


def pool(session: Session, variant_id: str) -> PoolFigures:
    total, drawn = session.execute(
        select(func.count(), func.count(LicenceKey.order_line_id))
        .where(LicenceKey.variant_id == variant_id)).one()
    return PoolFigures(variant_id, int(total), int(drawn))


def add_keys(session: Session, variant_id: str, keys: list[str], *,
             field: str = "keys") -> KeyUpload:
    """Add keys to the variant's pool, sealed; keys already in the pool, or twice in the
    upload, are refused and reported, the others added. The digital location's stock grows by
    as many (that stock is what checkout holds and sells)."""
    item = digital_item(session, variant_id)
    errors = [{"field": f"{field}.{i}", "message": f"at most {MAX_KEY_CHARS} characters"}
              for i, key in enumerate(keys) if len(key) > MAX_KEY_CHARS]
    if len(keys) > MAX_KEYS:
        errors.append({"field": field, "message": f"at most {MAX_KEYS} keys per upload"})
    cleaned = [key.strip() for key in keys]
    errors += [{"field": f"{field}.{i}", "message": "empty"}
               for i, key in enumerate(cleaned) if not key]
    if not cleaned:
        errors.append({"field": field, "message": "no keys"})
    if errors:
        raise ValidationFailed("The keys cannot be added; nothing was.", errors=errors[:100])
    secret = derived_key(session, FINGERPRINTS)
    prints = [_fingerprint(secret, variant_id, key) for key in cleaned]
    stored = set(session.scalars(select(LicenceKey.fingerprint).where(
        LicenceKey.variant_id == variant_id, LicenceKey.fingerprint.in_(sorted(set(prints))))))
    vault = Vault.of(session, SEALING)
    seen: set[str] = set()
    duplicates: list[dict[str, Any]] = []
    rows: list[LicenceKey] = []
    for i, (key, printed) in enumerate(zip(cleaned, prints, strict=True)):
        if printed in stored or printed in seen:
            duplicates.append({"index": i, "reason": "already in the pool" if printed in stored
                               else "twice in this upload"})
            continue
        seen.add(printed)
        rows.append(LicenceKey(variant_id=variant_id, sealed=vault.seal(key),
                               fingerprint=printed))
    if rows:
        try:
            with session.begin_nested():
                session.add_all(rows)
                session.flush()
        except IntegrityError:
            raise Conflict("Some of these keys were added meanwhile; upload again (the "
                           "duplicates will be reported).") from None
        location = digital_location(session)
        adjust(session, AdjustmentIn(reference=f"licence-keys:{new_id()}", lines=[
            AdjustmentLine(sku=item.sku, location=location.code, delta=len(rows),
                           reason="restock", note="licence keys uploaded")]))
        if _stored_good(session, variant_id) is None:
            session.add(DigitalGood(variant_id=variant_id, method="key_pool"))
        record_audit(session, action="licence_keys.added", resource_type="variant",
                     resource_id=variant_id, organization_id=_org(session),
                     before=None, after={"sku": item.sku, "added": len(rows),
                                         "duplicates": len(duplicates)})
    figures = pool(session, variant_id)
    record_event(session, "digital.keys_added", resource_type="variant", resource_id=variant_id,
                 data={"variant_id": variant_id, "sku": item.sku, "added": len(rows),
                       "duplicates": len(duplicates), "remaining": figures.remaining})
    return KeyUpload(len(rows), duplicates, figures)


def _org(session: Session) -> str:
    organization_id = tenant_of(session)
    if organization_id is None or organization_id == SYSTEM:
        raise RuntimeError("digital delivery works in one organization's session")
    return organization_id


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def draw_keys(session: Session, order_id: str, line_id: str, variant_id: str,
              quantity: int) -> list[str]:
    """One key per unit of the line, drawn for good: the keys drawn before for this line (a
    redelivered event) and new ones for the units without. Fewer than ``quantity`` only when
    the pool has no undrawn key left (an order paid that checkout did not hold for)."""
    have = set(session.scalars(select(LicenceKey.unit).where(
        LicenceKey.order_line_id == line_id)))
    for unit in range(quantity):
        if unit in have:
            continue
        if not _draw_one(session, order_id, line_id, variant_id, unit):
            break
    return opened_keys(session, line_id)


def _draw_one(session: Session, order_id: str, line_id: str, variant_id: str,
              unit: int) -> bool:
    postgresql = _postgresql(session)
    for _ in range(50):
        stmt = (select(LicenceKey.id)
                .where(LicenceKey.variant_id == variant_id, LicenceKey.order_line_id.is_(None))
                .order_by(LicenceKey.created_at, LicenceKey.id).limit(1))
        if postgresql:  # concurrent draws take different rows instead of queueing on one
            stmt = stmt.with_for_update(skip_locked=True)
        key_id = session.scalar(stmt)
        if key_id is None:
            return False
        try:
            with session.begin_nested():
                drawn = session.execute(
                    update(LicenceKey)
                    .where(LicenceKey.id == key_id, LicenceKey.order_line_id.is_(None))
                    .values(order_id=order_id, order_line_id=line_id, unit=unit,
                            drawn_at=utcnow()),
                    execution_options={"synchronize_session": False})
        except IntegrityError:
            return True  # this unit was drawn by a twin of this work meanwhile
        if getattr(drawn, "rowcount", 0) == 1:
            return True
    return False


def opened_keys(session: Session, line_id: str) -> list[str]:
    """The keys drawn for an order line, opened, by unit."""
    vault = Vault.of(session, SEALING)
    return [vault.open(sealed) for sealed in session.scalars(
        select(LicenceKey.sealed).where(LicenceKey.order_line_id == line_id)
        .order_by(LicenceKey.unit))]


def _pool_alert(session: Session, variant_id: str, sku: str, title: str, drawn_now: int,
                settings: Settings) -> None:
    """``digital.key_pool_low`` (and an email to the good's alert address) when this draw
    took the remaining keys down to the threshold or below it."""
    good = _stored_good(session, variant_id)
    threshold = good.low_pool_threshold if good is not None else 5
    figures = pool(session, variant_id)
    if drawn_now <= 0 or figures.remaining > threshold \
            or figures.remaining + drawn_now <= threshold:
        return
    data = {"variant_id": variant_id, "sku": sku, "remaining": figures.remaining,
            "threshold": threshold}
    record_event(session, "digital.key_pool_low", resource_type="variant",
                 resource_id=variant_id, data=data)
    if good is not None and good.alert_email:
        store = get_organization(session, good.organization_id)
        queue_email(session, kind="key_pool_low", to=good.alert_email,
                    context={**data, "title": title, "store_name": store.name},
                    reference=f"key_pool_low:{variant_id}:{figures.total}:{figures.remaining}")


# -- files and signed links ---------------------------------------------------------------

def add_file(session: Session, variant_id: str, *, filename: str, content_type: str,
             data: bytes) -> DigitalFile:
    """Keep a file for the variant's download links (at most ``MAX_FILE_BYTES``)."""
    digital_item(session, variant_id)
    name = re.sub(r"[\x00-\x1f\"\\/]", "_", filename.strip())[:255]
    errors = []
    if not name:
        errors.append({"field": "file", "message": "the file needs a name"})
    if not data:
        errors.append({"field": "file", "message": "the file is empty"})
    if len(data) > MAX_FILE_BYTES:
        errors.append({"field": "file", "message": f"at most {MAX_FILE_BYTES} bytes"})
    if errors:
        raise ValidationFailed("The file cannot be kept.", errors=errors)
    kind = content_type if re.fullmatch(r"[\w.+-]+/[\w.+-]+", content_type or "") \
        else "application/octet-stream"
    stored = DigitalFile(variant_id=variant_id, filename=name, content_type=kind[:100],
                         size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data)
    session.add(stored)
    session.flush()
    record_audit(session, action="digital_file.added", resource_type="variant",
                 resource_id=variant_id, organization_id=_org(session), before=None,
                 after={"file_id": stored.id, "filename": name, "size": len(data)})
    return stored


def list_files(session: Session, variant_id: str) -> list[DigitalFile]:
    digital_item(session, variant_id, reading=True)
    return list(session.scalars(select(DigitalFile).where(DigitalFile.variant_id == variant_id)
                                .order_by(DigitalFile.created_at, DigitalFile.id)))


def delete_file(session: Session, file_id: str) -> None:
    found = get_owned(session, DigitalFile, file_id)
    if found is None:
        raise NotFound(f"No file {file_id!r}.")
    record_audit(session, action="digital_file.deleted", resource_type="variant",
                 resource_id=found.variant_id, organization_id=_org(session),
                 before={"file_id": found.id, "filename": found.filename}, after=None)
    session.delete(found)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_link(session: Session, organization_id: str, delivery_id: str, file_id: str,
              expires_at: dt.datetime) -> str:
    """A download token: who (organization, delivery, file) and until when, HMAC-signed."""
    payload = f"{organization_id}.{delivery_id}.{file_id}.{int(expires_at.timestamp())}"
    signature = hmac.new(derived_key(session, LINKS), payload.encode(), hashlib.sha256).digest()
    return f"{_b64(payload.encode())}.{_b64(signature)}"


@dataclass(frozen=True)
class LinkTarget:
    delivery_id: str
    file_id: str
    expires_at: dt.datetime


def check_link(session: Session, organization_id: str, token: str, *,
               now: dt.datetime | None = None) -> LinkTarget:
    """What a token names, if Mercato signed it for this organization (403 ``link_invalid``
    otherwise) and it has not expired (410 ``link_expired``)."""
    try:
        encoded, signature = token.split(".")
        payload = _unb64(encoded).decode()
        org, delivery_id, file_id, expiry = payload.split(".")
        expires_at = dt.datetime.fromtimestamp(int(expiry), dt.UTC)
        given = _unb64(signature)
        if _b64(payload.encode()) != encoded or _b64(given) != signature:
            raise ValueError("not the canonical encoding")  # one token per signed link
    except (ValueError, UnicodeDecodeError, OverflowError, OSError):
        raise LinkInvalid("This download link is not valid.") from None
    wanted = hmac.new(derived_key(session, LINKS), payload.encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(wanted, given):
        raise LinkInvalid("This download link is not valid.")
    if org != organization_id:  # another store's link: as if it did not exist
        raise NotFound("No such download.")
    if expires_at <= (now or utcnow()):
        raise LinkExpired("This download link has expired; sign in to your account for a "
                          "new one.", extra={"expired_at": expires_at.isoformat()})
    return LinkTarget(delivery_id, file_id, expires_at)


def download(session: Session, organization_id: str, token: str) -> DigitalFile:
    """The file a valid link names, if its delivery is still delivered."""
    target = check_link(session, organization_id, token)
    delivery = get_owned(session, Delivery, target.delivery_id)
    stored = get_owned(session, DigitalFile, target.file_id)
    if delivery is None or stored is None or delivery.status != "delivered" \
            or stored.variant_id != delivery.variant_id:
        raise NotFound("This download is no longer available.")
    return stored


def links_for(session: Session, delivery: Delivery, *, base: str,
              now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Fresh signed links to the delivery's files, valid for the good's ``link_ttl_seconds``;
    ``base`` is the store's API path (``/store/v1/<slug>``) or its full URL."""
    if delivery.status != "delivered":
        return []
    good = _stored_good(session, delivery.variant_id)
    ttl = good.link_ttl_seconds if good is not None else 86400
    expires_at = (now or utcnow()) + dt.timedelta(seconds=ttl)
    files = session.execute(select(DigitalFile.id, DigitalFile.filename, DigitalFile.size)
                            .where(DigitalFile.variant_id == delivery.variant_id)
                            .order_by(DigitalFile.created_at, DigitalFile.id)).all()
    return [{"file_id": fid, "filename": name, "size": size,
             "url": f"{base}/downloads/"
                    f"{sign_link(session, delivery.organization_id, delivery.id, fid, expires_at)}",
             "expires_at": expires_at} for fid, name, size in files]


# -- deliveries ---------------------------------------------------------------------------------

def start_deliveries(session: Session, order_id: str, settings: Settings) -> list[Delivery]:
    """A paid order's digital lines get their delivery (once: a redelivered ``order.paid``
    finds them); key pools, downloads and emails are delivered at once, in this transaction;
    webhooks are left to the worker (``deliver_due``), manual ones to staff."""
    order = get_order(session, order_id)
    items = sale_items(session, ids=[line.variant_id for line in order.lines])
    made: list[Delivery] = []
    for line in order.lines:
        item = items.get(line.variant_id)
        if item is None or not item.digital:
            continue
        good = _stored_good(session, line.variant_id)
        if good is not None and good.method != "key_pool" \
                and _on_hand(session, item.id) < UNLIMITED // 2:
            _sync_stock(session, item, good.method)  # never runs out
        existing = session.scalar(select(Delivery).where(Delivery.order_line_id == line.id))
        if existing is not None:
            made.append(existing)
            continue
        delivery = Delivery(order_id=order.id, order_line_id=line.id, variant_id=line.variant_id,
                            sku=line.sku, title=line.title, quantity=line.quantity,
                            method=good.method if good is not None else "manual",
                            status="pending", attempts=0, email=order.email,
                            next_attempt_at=utcnow() if good is not None
                            and good.method != "manual" else None)
        try:
            with session.begin_nested():
                session.add(delivery)
        except IntegrityError:  # a twin of this work made it first
            continue
        made.append(delivery)
        record_event(session, "digital.delivery_created", resource_type="order",
                     resource_id=order.id, data=delivery_event(delivery))
        if delivery.method in LOCAL_METHODS:
            attempt_local(session, delivery, order, settings)
    return made


def delivery_event(delivery: Delivery) -> dict[str, Any]:
    return {"delivery_id": delivery.id, "order_id": delivery.order_id,
            "order_line_id": delivery.order_line_id, "sku": delivery.sku,
            "method": delivery.method, "status": delivery.status,
            "attempts": delivery.attempts}


def attempt_local(session: Session, delivery: Delivery, order: Order | None,
                  settings: Settings) -> bool:
    """Deliver by a method that is database work (draw keys, sign links, queue the email);
    on failure the delivery waits for its next attempt (backoff), ``failed`` after
    ``MAX_ATTEMPTS``. True when delivered."""
    order = order or get_order(session, delivery.order_id)
    delivery.attempts += 1
    try:
        keys: list[str] = []
        if delivery.method == "key_pool":
            keys = draw_keys(session, order.id, delivery.order_line_id, delivery.variant_id,
                             delivery.quantity)
            drawn = len(keys)
            if drawn < delivery.quantity:
                _pool_alert(session, delivery.variant_id, delivery.sku, delivery.title, drawn,
                            settings)
                raise _Undeliverable(f"the key pool is empty: {drawn} of {delivery.quantity} "
                                     "key(s) drawn")
            _pool_alert(session, delivery.variant_id, delivery.sku, delivery.title, drawn,
                        settings)
        delivery.status, delivery.delivered_at = "delivered", utcnow()
        delivery.last_error, delivery.next_attempt_at = None, None
        _email(session, delivery, order, keys, settings)
    except _Undeliverable as exc:
        _retry_later(delivery, str(exc))
        record_event(session, "digital.delivery_failed", resource_type="order",
                     resource_id=delivery.order_id, data=delivery_event(delivery))
        return False
    record_event(session, "digital.delivered", resource_type="order",
                 resource_id=delivery.order_id, data=delivery_event(delivery))
    return True


class _Undeliverable(Exception):
    """This attempt could not deliver; why."""


def _retry_later(delivery: Delivery, error: str, now: dt.datetime | None = None) -> None:
    delivery.last_error = error[:2000]
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.status, delivery.next_attempt_at = "failed", None
    else:
        delivery.status = "pending"
        delivery.next_attempt_at = (now or utcnow()) + dt.timedelta(
            seconds=backoff(delivery.attempts, base=30.0, cap=3600.0, floor=0.5))


def _email(session: Session, delivery: Delivery, order: Order, keys: list[str],
           settings: Settings) -> None:
    """The buyer's email: the good's message, the keys, the download links."""
    if not delivery.email:
        if delivery.method == "email":
            raise _Undeliverable("the order has no email address")
        return
    good = _stored_good(session, delivery.variant_id)
    store = get_organization(session, delivery.organization_id)
    base = f"{(settings.public_url or '').rstrip('/')}/store/v1/{store.slug}"
    queue_email(session, kind="digital_delivery", to=delivery.email, context={
        "store_name": store.name, "customer_name": order.customer_name,
        "order_number": order.number, "title": delivery.title, "quantity": delivery.quantity,
        "message": good.message if good is not None else "", "keys": keys,
        "links": links_for(session, delivery, base=base) if delivery.method == "download"
        else []}, reference=f"delivery:{delivery.id}", customer_id=order.customer_id)


def get_delivery(session: Session, delivery_id: str) -> Delivery:
    found = get_owned(session, Delivery, delivery_id)
    if found is None:
        raise NotFound(f"No delivery {delivery_id!r}.")
    return found


def list_deliveries(session: Session, params: PageParams, *, order_id: str | None = None,
                    status: str | None = None) -> Slice[Delivery]:
    stmt = select(Delivery)
    if order_id is not None:
        stmt = stmt.where(Delivery.order_id == order_id)
    if status is not None:
        stmt = stmt.where(Delivery.status == status)
    return paginate(session, stmt, [(Delivery.id, True)], params)


def order_deliveries(session: Session, order_id: str) -> list[Delivery]:
    return list(session.scalars(select(Delivery).where(Delivery.order_id == order_id)
                                .order_by(Delivery.created_at, Delivery.id)))


def retry(session: Session, delivery_id: str, settings: Settings) -> Delivery:
    """Staff's retry: a failed or pending delivery is tried again now (from its first
    attempt's count); a delivered one is 409."""
    delivery = _locked(session, delivery_id)
    if delivery.status == "delivered":
        raise Conflict("The delivery was delivered; there is nothing to retry.")
    if delivery.method == "manual":
        raise Conflict("A manual delivery is marked delivered by staff, not retried.")
    delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, utcnow()
    delivery.lease_until = delivery.lease_owner = None
    if delivery.method in LOCAL_METHODS:
        attempt_local(session, delivery, None, settings)
    return delivery


def mark_delivered(session: Session, delivery_id: str, note: str | None) -> Delivery:
    """Staff delivered it by hand (a manual delivery, or one they sent another way)."""
    delivery = _locked(session, delivery_id)
    if delivery.status == "delivered":
        return delivery
    delivery.status, delivery.delivered_at, delivery.next_attempt_at = \
        "delivered", utcnow(), None
    delivery.last_error = None
    record_event(session, "digital.delivered", resource_type="order",
                 resource_id=delivery.order_id, data={**delivery_event(delivery),
                                                      "by_staff": True, "note": note})
    return delivery


def _locked(session: Session, delivery_id: str) -> Delivery:
    found = session.scalar(select(Delivery).where(Delivery.id == delivery_id).with_for_update()
                           .execution_options(populate_existing=True))
    if found is None:
        raise NotFound(f"No delivery {delivery_id!r}.")
    return found


# -- the worker --------------------------------------------------------------------------------

def deliver_due(db: Database, settings: Settings | None = None, *,
                now: dt.datetime | None = None, limit: int = 50) -> int:
    """Try every delivery that is due (webhooks, and local ones waiting to retry): each is
    leased, worked outside any transaction for a webhook's call, and its outcome recorded only
    while the lease holds. The number delivered."""
    settings = settings or get_settings()
    worker = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
    moment = now or utcnow()
    due = [Delivery.status == "pending", Delivery.next_attempt_at <= moment,
           leases.lapsed(Delivery.lease_until, moment)]
    with db.session(write=False, tenant=SYSTEM) as session:  # idle polls take no write lock
        if session.scalar(select(Delivery.id).where(*due).limit(1)) is None:
            return 0
    with db.transaction(tenant=SYSTEM) as session:
        ids = leases.claim(
            session, Delivery,
            where=[*due, *not_paused(session, Delivery.organization_id)],
            order_by=[Delivery.next_attempt_at, Delivery.id], limit=limit,
            until=moment + dt.timedelta(seconds=LEASE_SECONDS), owner=worker)
    return sum(_deliver_one(db, settings, worker, delivery_id, moment) for delivery_id in ids)


def _deliver_one(db: Database, settings: Settings, worker: str, delivery_id: str,
                 now: dt.datetime) -> int:
    with db.transaction(tenant=SYSTEM) as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.lease_owner != worker:
            return 0
        set_tenant(session, delivery.organization_id)
        if delivery.method in LOCAL_METHODS:
            done = attempt_local(session, delivery, None, settings)
            delivery.lease_until = delivery.lease_owner = None
            return int(done)
        good = _stored_good(session, delivery.variant_id)
        url = good.webhook_url if good is not None else None
        body = {"event": "digital.delivery", "delivery": delivery_event(delivery),
                "order": {"id": delivery.order_id, "email": delivery.email},
                "quantity": delivery.quantity}
        organization_id = delivery.organization_id
    error = _post(url, body, settings, delivery_id)
    with db.transaction(tenant=organization_id) as session:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.lease_owner != worker or delivery.status != "pending":
            return 0
        delivery.attempts += 1
        delivery.lease_until = delivery.lease_owner = None
        if error is None:
            delivery.status, delivery.delivered_at = "delivered", utcnow()
            delivery.last_error, delivery.next_attempt_at = None, None
            record_event(session, "digital.delivered", resource_type="order",
                         resource_id=delivery.order_id, data=delivery_event(delivery))
            return 1
        _retry_later(delivery, error, now)
        record_event(session, "digital.delivery_failed", resource_type="order",
                     resource_id=delivery.order_id, data=delivery_event(delivery))
        log.warning("digital_delivery_failed", delivery=delivery_id, error=error,
                    attempts=delivery.attempts)
        return 0


def _post(url: str | None, body: dict[str, Any], settings: Settings,
          delivery_id: str) -> str | None:
    """POST the delivery to the merchant's URL (through ``core.egress``); None on a 2xx, else
    why not."""
    if not url:
        return "no webhook URL is set for this product"
    try:
        target = check_url(url, settings.webhook_allow_hosts, field="webhook_url")
        answer = httpx.post(target, json=body, timeout=10.0, follow_redirects=False,
                            headers={"Idempotency-Key": f"delivery:{delivery_id}"})
    except MercatoError as exc:
        return exc.detail
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= answer.status_code < 300:
        return None
    return f"the endpoint answered {answer.status_code}"



# -- what the buyer sees ------------------------------------------------------------------------

def shopper_deliveries(session: Session, order_id: str, *, base: str) -> list[dict[str, Any]]:
    """The order's deliveries as its buyer sees them (the caller has checked the order is
    theirs): status, the keys drawn for each line, fresh signed download links."""
    shown = []
    for delivery in order_deliveries(session, order_id):
        delivered = delivery.status == "delivered"
        shown.append({
            "id": delivery.id, "order_line_id": delivery.order_line_id, "sku": delivery.sku,
            "title": delivery.title, "quantity": delivery.quantity, "method": delivery.method,
            "status": delivery.status, "delivered_at": delivery.delivered_at,
            "keys": opened_keys(session, delivery.order_line_id)
            if delivered and delivery.method == "key_pool" else [],
            "downloads": links_for(session, delivery, base=base)
            if delivery.method == "download" else []})
    return shown
