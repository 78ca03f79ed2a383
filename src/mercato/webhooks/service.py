"""Outbound webhook endpoints and their deliveries: the use cases the API, tests and the CLI
call with a session and plain data.

An endpoint's secret is generated unless given, returned once (by ``create_endpoint`` and
``rotate_secret``), and kept sealed (``core.secrets``, purpose ``webhooks``); afterwards only
its last four characters are shown. A rotation keeps the previous secret signing for a grace
period, so receivers can switch without dropping a delivery.

URLs go through ``core.egress.check_url`` here (at configuration) and again before every send
(``sender.py``), since a name may resolve elsewhere later.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets as random_secrets
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mercato.core.db import require_owned, utcnow
from mercato.core.egress import check_url
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.core.secrets import Vault
from mercato.settings import Settings
from mercato.webhooks.models import (
    DEAD,
    DELIVERED,
    PENDING,
    STATUSES,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

SEALING_PURPOSE = "webhooks"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
EVENT_PATTERN = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")
"""An exact event type (``order.paid``), a family (``order.*``) or everything (``*``)."""
MAX_PATTERNS = 100
SECRET_CHARS = re.compile(r"^[\x21-\x7e]{16,200}$")
DEFAULT_GRACE_SECONDS = 24 * 3600
MAX_GRACE_SECONDS = 7 * 24 * 3600


# -- event filters ---------------------------------------------------------------------------

def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``patterns`` wants ``event_type``."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def clean_events(events: Sequence[Any]) -> list[str]:
    """The filter as stored: valid patterns, duplicates dropped, in the order given."""
    errors = []
    if not isinstance(events, list | tuple) or not events:
        errors.append({"field": "events", "message": "at least one event type or pattern"})
    elif len(events) > MAX_PATTERNS:
        errors.append({"field": "events", "message": f"at most {MAX_PATTERNS} patterns"})
    else:
        for index, pattern in enumerate(events):
            if not isinstance(pattern, str) or len(pattern) > 100 \
                    or not EVENT_PATTERN.match(pattern):
                errors.append({"field": f"events[{index}]", "message":
                               "an event type (order.paid), a family (order.*) or *"})
    if errors:
        raise ValidationFailed("The event filter is not valid.", errors=errors)
    return list(dict.fromkeys(events))


# -- secrets ---------------------------------------------------------------------------------

def new_secret() -> str:
    return SECRET_PREFIX + random_secrets.token_urlsafe(32)


def _check_secret(secret: str | None) -> str:
    if secret is None:
        return new_secret()
    if not SECRET_CHARS.match(secret):
        raise ValidationFailed("The secret is not usable.", errors=[{
            "field": "secret",
            "message": "16 to 200 printable ASCII characters, no spaces"}])
    return secret


def _vault(session: Session, settings: Settings | None = None) -> Vault:
    return Vault.of(session, SEALING_PURPOSE, settings)


def signing_secrets(session: Session, endpoint: WebhookEndpoint, now: dt.datetime,
                    settings: Settings | None = None) -> list[str]:
    """The secrets that sign a delivery sent at ``now``: the current one, and the previous one
    while its grace period runs."""
    vault = _vault(session, settings)
    found = [vault.open(endpoint.secret_sealed)]
    if (endpoint.previous_secret_sealed and endpoint.previous_secret_expires_at is not None
            and endpoint.previous_secret_expires_at > now):
        found.append(vault.open(endpoint.previous_secret_sealed))
    return found


# -- endpoints -------------------------------------------------------------------------------

def _url(url: str, allow_hosts: Iterable[str]) -> str:
    if len(url) > 2048:
        raise ValidationFailed("The URL is too long.",
                               errors=[{"field": "url", "message": "at most 2048 characters"}])
    return check_url(url, allow_hosts)


def _text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > limit or "\x00" in value:
        raise ValidationFailed(f"The {field} is not valid.", errors=[{
            "field": field, "message": f"at most {limit} characters, no NUL"}])
    return value or None


def create_endpoint(session: Session, *, url: str, events: Sequence[str],
                    allow_hosts: Iterable[str] = (), secret: str | None = None,
                    description: str | None = None, enabled: bool = True,
                    settings: Settings | None = None) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (the only time the secret is returned)."""
    checked_url = _url(url, allow_hosts)
    patterns = clean_events(events)
    value = _check_secret(secret)
    endpoint = WebhookEndpoint(
        url=checked_url, events=patterns, enabled=enabled,
        description=_text(description, "description", 500),
        secret_sealed=_vault(session, settings).seal(value), secret_last4=value[-4:],
        consecutive_failures=0)
    session.add(endpoint)
    session.flush()
    return endpoint, value


def get_endpoint(session: Session, endpoint_id: str) -> WebhookEndpoint:
    return require_owned(session, WebhookEndpoint, endpoint_id, "Webhook endpoint")


def list_endpoints(session: Session, params: PageParams) -> Slice[WebhookEndpoint]:
    """Oldest first."""
    return paginate(session, select(WebhookEndpoint),
                    [(WebhookEndpoint.created_at, False), (WebhookEndpoint.id, False)], params)


def update_endpoint(session: Session, endpoint_id: str, changes: dict[str, Any], *,
                    allow_hosts: Iterable[str] = ()) -> WebhookEndpoint:
    """Change what ``changes`` names (``url``, ``events``, ``description``, ``enabled``).
    Enabling an endpoint closes its breaker: someone looked at it."""
    endpoint = get_endpoint(session, endpoint_id)
    if "url" in changes:
        if changes["url"] is None:
            raise ValidationFailed("The URL is required.",
                                   errors=[{"field": "url", "message": "must not be null"}])
        endpoint.url = _url(changes["url"], allow_hosts)
    if "events" in changes:
        endpoint.events = clean_events(changes["events"] or [])
    if "description" in changes:
        endpoint.description = _text(changes["description"], "description", 500)
    if "enabled" in changes:
        if changes["enabled"] is None:
            raise ValidationFailed("enabled must be true or false.",
                                   errors=[{"field": "enabled", "message": "must not be null"}])
        if changes["enabled"] and not endpoint.enabled:
            endpoint.consecutive_failures = 0
            endpoint.open_until = None
        endpoint.enabled = bool(changes["enabled"])
    session.flush()
    return endpoint


def delete_endpoint(session: Session, endpoint_id: str) -> None:
    """The endpoint goes, with its deliveries and their log."""
    session.delete(get_endpoint(session, endpoint_id))
    session.flush()


def rotate_secret(session: Session, endpoint_id: str, *, grace_seconds: int | None = None,
                  secret: str | None = None,
                  settings: Settings | None = None) -> tuple[WebhookEndpoint, str]:
    """A new signing secret (returned once); the current one keeps signing beside it for
    ``grace_seconds`` (default a day; 0 ends it now)."""
    grace = DEFAULT_GRACE_SECONDS if grace_seconds is None else grace_seconds
    if not 0 <= grace <= MAX_GRACE_SECONDS:
        raise ValidationFailed("The grace period is out of range.", errors=[{
            "field": "grace_seconds", "message": f"0 to {MAX_GRACE_SECONDS} seconds"}])
    endpoint = get_endpoint(session, endpoint_id)
    value = _check_secret(secret)
    if grace > 0:
        endpoint.previous_secret_sealed = endpoint.secret_sealed
        endpoint.previous_secret_last4 = endpoint.secret_last4
        endpoint.previous_secret_expires_at = utcnow() + dt.timedelta(seconds=grace)
    else:
        endpoint.previous_secret_sealed = None
        endpoint.previous_secret_last4 = None
        endpoint.previous_secret_expires_at = None
    endpoint.secret_sealed = _vault(session, settings).seal(value)
    endpoint.secret_last4 = value[-4:]
    session.flush()
    return endpoint, value


def breaker_state(endpoint: WebhookEndpoint, threshold: int,
                  now: dt.datetime | None = None) -> str:
    """``closed`` (sending), ``open`` (holding deliveries until ``open_until``) or
    ``half_open`` (the next send is a probe that closes it on success)."""
    now = now or utcnow()
    if endpoint.open_until is not None and endpoint.open_until > now:
        return "open"
    if endpoint.consecutive_failures >= threshold:
        return "half_open"
    return "closed"


# -- deliveries ------------------------------------------------------------------------------

def _check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise ValidationFailed("Unknown status.", errors=[{
            "field": "status", "message": f"one of {', '.join(STATUSES)}"}])


def list_deliveries(session: Session, endpoint_id: str, params: PageParams, *,
                    status: str | None = None,
                    event_type: str | None = None) -> Slice[WebhookDelivery]:
    """An endpoint's deliveries, newest first."""
    _check_status(status)
    get_endpoint(session, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if event_type is not None:
        stmt = stmt.where(WebhookDelivery.event_type == event_type)
    return paginate(session, stmt, [(WebhookDelivery.created_at, True),
                                    (WebhookDelivery.id, True)], params)


def get_delivery(session: Session, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    delivery = require_owned(session, WebhookDelivery, delivery_id, "Webhook delivery")
    if delivery.endpoint_id != endpoint_id:
        raise NotFound("Webhook delivery not found.")
    return delivery


def attempts_of(session: Session, delivery_id: str) -> list[WebhookAttempt]:
    """Every attempt of a delivery, first first."""
    return list(session.scalars(select(WebhookAttempt)
                                .where(WebhookAttempt.delivery_id == delivery_id)
                                .order_by(WebhookAttempt.id)))


def retry_delivery(session: Session, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    """Send a dead delivery, or a failing one now, with its attempts counted afresh. One being
    sent right now, or delivered already, is a 409."""
    delivery = get_delivery(session, endpoint_id, delivery_id)
    now = utcnow()
    if delivery.status == DELIVERED:
        raise Conflict("This delivery was delivered already.",
                       errors=[{"field": "status", "message": DELIVERED}])
    if delivery.status == PENDING and (delivery.attempts == 0 or (
            delivery.lease_until is not None and delivery.lease_until >= now)):
        raise Conflict("This delivery is waiting to be sent, or being sent, already.",
                       errors=[{"field": "status", "message": PENDING}])
    delivery.status = PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.lease_owner = None
    delivery.lease_until = None
    session.flush()
    return delivery


def retry_dead(session: Session, endpoint_id: str) -> int:
    """Every dead delivery of an endpoint back in the queue; how many."""
    get_endpoint(session, endpoint_id)
    result = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == DEAD)
        .values(status=PENDING, attempts=0, next_attempt_at=utcnow(), lease_owner=None,
                lease_until=None),
        execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)
