"""Customer emails: rendered and recorded in the caller's transaction, sent after commit.

``queue`` renders a kind's templates (Jinja2; the HTML part autoescaped) and writes a
``pending`` row in the caller's transaction, so an email exists if and only if the change that
caused it committed. ``send_pending`` (the worker's periodic task; tests call it directly)
claims due rows under a lease, sends each through SMTP as multipart/alternative, and records
the outcome: ``sent``, a retry with backoff, or ``failed`` after ``MAX_ATTEMPTS``. Without an
SMTP host the rows are marked ``skipped``.

The body of an email that carries a secret (``SECRET_KINDS``: a password-reset or verification
token) is kept sealed (``core.secrets``, purpose ``notifications``) and opened only to send it,
so the row never holds a usable token; the worker's retries and a resend send the same link.

Claims work like the outbox dispatcher's: on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets many
workers take disjoint batches; on SQLite the claim runs under the database's write lock. A
worker that dies after the SMTP server accepted a message but before recording it leaves the
row to be sent again when its lease lapses (at least once, with the same Message-ID).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import smtplib
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

import structlog
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato.core import queue as leases
from mercato.core.db import SYSTEM, Database, require_owned, tenant_of, utcnow
from mercato.core.errors import Conflict, MercatoError, ServiceUnavailable, ValidationFailed
from mercato.core.ids import new_id
from mercato.core.outbox import backoff_seconds
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.core.secrets import Vault
from mercato.identity import ports as identity_ports
from mercato.notifications.models import KINDS, Notification
from mercato.settings import Settings
from mercato.tenancy import organization_settings, suspended_organizations

log = structlog.get_logger("mercato.notifications")

MAX_ATTEMPTS = 5
"""Tries per email before it is marked ``failed`` (a 5xx refusal fails it at once)."""
BATCH_SIZE = 20
LEASE_SECONDS = 300
"""How long a claim lasts: well past a batch of sends at ``SMTP_TIMEOUT_SECONDS`` each."""
SMTP_TIMEOUT_SECONDS = 10.0
SECRET_KINDS = frozenset({"password_reset", "verify_email", "digital_delivery"})
"""Kinds whose bodies carry a secret (a reset token): stored sealed, and the API shows their
metadata only."""
SEALED = "sealed:"
"""Prefix of a stored body that is sealed (the rest is the Fernet token)."""
SEALING_PURPOSE = "notifications"


# -- rendering ------------------------------------------------------------------------------

def _money(amount: Any, currency: str = "") -> str:
    """``12.50 USD``: Decimal formatting, never through float."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    return f"{value:.2f} {currency}".strip()


_env = Environment(
    loader=PackageLoader("mercato.notifications", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,  # a context key the caller forgot fails loudly, not silently
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters["money"] = _money


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


UNBRANDED: Mapping[str, Any] = dict.fromkeys(("logo_url", "brand_color", "brand_text",
                                              "accent_color"))
"""The layout's branding values when the organization set none."""


def render(kind: str, context: Mapping[str, Any]) -> Rendered:
    """The subject, text part and HTML part of ``kind`` for ``context``."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    values = {**UNBRANDED, **context}  # branding is optional; every other value is required
    subject = _env.get_template(f"{kind}.subject.txt").render(values)
    return Rendered(
        subject=" ".join(subject.split())[:500],  # one line: no header injection, ever
        text=_env.get_template(f"{kind}.txt").render(values),
        html=_env.get_template(f"{kind}.html").render(values),
    )


def _text_on(color: str) -> str:
    """White or black, whichever contrasts more with ``#rrggbb`` (WCAG 2 luminance; the
    storefront picks its header's text the same way, ``web.store.branding``)."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    lum = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return "#ffffff" if (1.05 / (lum + 0.05)) >= ((lum + 0.05) / 0.05) else "#000000"


def branding(session: Session) -> dict[str, Any]:
    """The organization's logo and colours for its emails' layout: ``brand_color`` heads the
    mail (with readable text), ``accent_color`` colours its links, and an https logo is shown
    with the store's name as its text (a path of the store's media is no address a mail
    reader can load, so it is left out)."""
    out: dict[str, Any] = dict(UNBRANDED)
    organization_id = tenant_of(session)
    if not organization_id or organization_id == SYSTEM:
        return out
    try:
        found = organization_settings(session, organization_id)
    except MercatoError:
        return out
    if found.logo_url and found.logo_url.startswith("https://"):
        out["logo_url"] = found.logo_url
    if found.brand_color:
        out["brand_color"], out["brand_text"] = found.brand_color, _text_on(found.brand_color)
    if found.accent_color:
        out["accent_color"] = found.accent_color
    return out


def _address(to: str) -> str:
    email = to.strip().lower()
    _, parsed = parseaddr(email)
    local, at, domain = email.partition("@")
    if (parsed != email or not at or not local or "." not in domain or "@" in domain
            or len(email) > 320 or any(c.isspace() or ord(c) < 32 for c in email)):
        raise ValidationFailed("The recipient is not an email address.",
                               errors=[{"field": "to", "message": "not an email address"}])
    return email


# -- queueing -------------------------------------------------------------------------------

def queue(session: Session, *, kind: str, to: str, context: Mapping[str, Any],
          reference: str, customer_id: str | None = None) -> Notification | None:
    """Render and record an email as ``pending`` in the caller's transaction.

    None when this (kind, reference) was queued before: an event handled twice, or a button
    pressed twice, sends one email. The unique constraint decides between concurrent twins.
    """
    recipient = _address(to)
    if session.scalar(select(exists().where(Notification.kind == kind,
                                            Notification.reference == reference))):
        return None
    rendered = render(kind, {**branding(session), **context})
    text, html = rendered.text, rendered.html
    if kind in SECRET_KINDS:
        vault = Vault.of(session, SEALING_PURPOSE)
        text, html = SEALED + vault.seal(text), SEALED + vault.seal(html)
    notification = Notification(kind=kind, recipient=recipient, subject=rendered.subject,
                                body_text=text, body_html=html,
                                status="pending", attempts=0, reference=reference[:200],
                                customer_id=customer_id, next_attempt_at=utcnow())
    try:
        with session.begin_nested():
            session.add(notification)
    except IntegrityError:
        return None
    return notification


def send_message(session: Session, *, to: str, subject: str, body: str, reference: str,
                 store_name: str = "") -> str | None:
    """Queue a merchant's own plain-text email (kind ``workflow``): the id of the queued row, or
    None when this reference was queued before (a step run twice sends one email)."""
    subject = " ".join(subject.split())
    if not subject or len(subject) > 500:
        raise ValidationFailed("The subject is 1 to 500 characters.",
                               errors=[{"field": "subject", "message": "1 to 500 characters"}])
    if len(body) > 100_000:
        raise ValidationFailed("The body is at most 100,000 characters.",
                               errors=[{"field": "body", "message": "too long"}])
    queued = queue(session, kind="workflow", to=to, reference=reference,
                   context={"subject": subject, "body": body, "store_name": store_name})
    return None if queued is None else queued.id


def bodies(session: Session, notification: Notification,
           settings: Settings | None = None) -> tuple[str, str]:
    """The text and HTML parts as mailed: opened when they are stored sealed."""
    parts = (notification.body_text, notification.body_html)
    if not any(part.startswith(SEALED) for part in parts):
        return parts
    vault = Vault.of(session, SEALING_PURPOSE, settings)
    text, html = (vault.open(part[len(SEALED):]) if part.startswith(SEALED) else part
                  for part in parts)
    return text, html


# -- reading and resending ------------------------------------------------------------------

def list_notifications(session: Session, params: PageParams, *, kind: str | None = None,
                       status: str | None = None, recipient: str | None = None,
                       reference: str | None = None) -> Slice[Notification]:
    """Newest first."""
    stmt = select(Notification)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    if status:
        stmt = stmt.where(Notification.status == status)
    if recipient:
        stmt = stmt.where(Notification.recipient == recipient.strip().lower())
    if reference:
        stmt = stmt.where(Notification.reference == reference)
    return paginate(session, stmt, [(Notification.created_at, True), (Notification.id, True)],
                    params)


def get_notification(session: Session, notification_id: str) -> Notification:
    return require_owned(session, Notification, notification_id, "Notification")


def resend(session: Session, notification_id: str) -> Notification:
    """Send a recorded email again (same body, a new Message-ID) on the worker's next pass."""
    notification = get_notification(session, notification_id)
    if notification.status == "pending":
        raise Conflict("This email is waiting to be sent already.",
                       errors=[{"field": "status", "message": "pending"}])
    notification.status = "pending"
    notification.attempts = 0
    notification.last_error = None
    notification.message_id = None
    notification.sent_at = None
    notification.next_attempt_at = utcnow()
    notification.lease_owner = None
    notification.lease_until = None
    return notification


# -- sending --------------------------------------------------------------------------------

def _claim(db: Database, worker: str, now: dt.datetime, batch_size: int,
           domain: str) -> list[str]:
    """Lease up to ``batch_size`` due rows to ``worker``; disjoint across workers.

    Each row gets its Message-ID here, before any send: a row sent again after a crash (the
    server took it, the worker died before recording that) carries the same Message-ID, so
    mail readers show it once.
    """
    with db.transaction(tenant=SYSTEM) as session:
        paused = suspended_organizations(session)  # suspended by the operator: mail waits
        ids = leases.claim(
            session, Notification,
            where=[Notification.status == "pending", Notification.next_attempt_at <= now,
                   leases.lapsed(Notification.lease_until, now),
                   *([Notification.organization_id.notin_(sorted(paused))] if paused else [])],
            order_by=[Notification.next_attempt_at, Notification.id], limit=batch_size,
            until=now + dt.timedelta(seconds=LEASE_SECONDS), owner=worker)
        if ids:
            for unnamed in list(session.scalars(select(Notification.id).where(
                    Notification.id.in_(ids), Notification.message_id.is_(None)))):
                session.execute(
                    update(Notification).where(Notification.id == unnamed)
                    .values(message_id=message_id_for(unnamed, domain)),
                    execution_options={"synchronize_session": False})
    return ids


def _finish(db: Database, worker: str, notification_id: str, **values: Any) -> bool:
    """Record an outcome, unless the lease passed to another worker meanwhile."""
    with db.transaction(tenant=SYSTEM) as session:
        return leases.release(session, Notification, notification_id, owner=worker,
                              where=[Notification.status == "pending"], values=values)


def message_id_for(notification_id: str, domain: str) -> str:
    """A Message-ID unique to this send of this row, short enough that its header line is
    never folded (a folded one reaches the reader with a leading space)."""
    return f"<{secrets.token_hex(6)}.{notification_id.lower()}@{domain}>"


def build_message(notification: Notification, settings: Settings, message_id: str, *,
                  text: str | None = None, html: str | None = None) -> EmailMessage:
    """multipart/alternative: the text part first, the HTML part preferred by mail readers.
    ``text`` and ``html`` are the opened bodies of a sealed notification (``bodies``)."""
    message = EmailMessage()
    message["Subject"] = notification.subject
    message["From"] = settings.smtp_from
    message["To"] = notification.recipient
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message["X-Mercato-Notification"] = f"{notification.kind} {notification.id}"
    message.set_content(notification.body_text if text is None else text)
    message.add_alternative(notification.body_html if html is None else html, subtype="html")
    return message


class _Mailer:
    """One SMTP connection per batch, opened on first use and reopened after an error."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage, recipient: str) -> None:
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            sender = parseaddr(self.settings.smtp_from)[1] or self.settings.smtp_from
            self.smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except (smtplib.SMTPServerDisconnected, OSError):
            self.close()
            raise

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        assert s.smtp_host is not None
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                smtp.login(s.smtp_username, password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None


def _permanent(exc: Exception) -> bool:
    """A 5xx answer (unknown mailbox, refused sender): retrying will not help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPAuthenticationError)
    return False


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or socket.getfqdn()


def send_pending(db: Database, settings: Settings, *, now: dt.datetime | None = None,
                 batch_size: int = BATCH_SIZE, max_attempts: int = MAX_ATTEMPTS,
                 max_batches: int = 50) -> int:
    """Send every due pending email; the number the SMTP server accepted.

    ``now`` stands for the current time (tests move it past a retry's backoff). Each row is
    claimed, sent, and its outcome recorded in a transaction of its own: a slow SMTP server
    never holds a database transaction open.
    """
    worker = f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
    sent = 0
    for _ in range(max_batches):
        moment = now or utcnow()
        ids = _claim(db, worker, moment, batch_size, _domain(settings.smtp_from))
        if not ids:
            break
        mailer = _Mailer(settings) if settings.smtp_host else None
        try:
            for notification_id in ids:
                sent += _send_one(db, settings, mailer, worker, notification_id, moment,
                                  max_attempts)
        finally:
            if mailer is not None:
                mailer.close()
    return sent


def _send_one(db: Database, settings: Settings, mailer: _Mailer | None, worker: str,
              notification_id: str, now: dt.datetime, max_attempts: int) -> int:
    with db.session(write=False, tenant=SYSTEM) as session:
        notification = session.get(Notification, notification_id)
        if notification is None or notification.lease_owner != worker:
            return 0
        unreadable = None
        text = html = ""
        if mailer is not None:
            try:
                text, html = bodies(session, notification, settings)
            except ServiceUnavailable as exc:  # sealed under another MERCATO_SECRET_KEY
                unreadable = exc.detail
        session.expunge(notification)
    if mailer is None:
        _finish(db, worker, notification_id, status="skipped",
                last_error="MERCATO_SMTP_HOST is not set")
        return 0
    if unreadable is not None:
        log.error("notification_unreadable", notification=notification_id, error=unreadable)
        _finish(db, worker, notification_id, status="failed", last_error=unreadable)
        return 0
    message_id = notification.message_id or message_id_for(notification.id,
                                                           _domain(settings.smtp_from))
    attempts = notification.attempts + 1
    try:
        mailer.send(build_message(notification, settings, message_id, text=text, html=html),
                    notification.recipient)
    except (smtplib.SMTPException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        final = attempts >= max_attempts or _permanent(exc)
        log.warning("notification_failed", notification=notification_id, attempts=attempts,
                    final=final, error=error)
        retry_at = now + dt.timedelta(seconds=backoff_seconds(attempts) * 15)
        _finish(db, worker, notification_id, status="failed" if final else "pending",
                attempts=attempts, last_error=error, message_id=message_id,
                next_attempt_at=retry_at)
        return 0
    _finish(db, worker, notification_id, status="sent", attempts=attempts, last_error=None,
            message_id=message_id, sent_at=utcnow())
    return 1


@identity_ports.send_account_mail.provide
def _queue_account_mail(session: Session, mail: identity_ports.AccountMail) -> None:
    """A shopper's reset or verification email, queued in the transaction that made its token
    (identity asks through its port: it imports nothing above it)."""
    queue(session, kind=mail.kind, to=mail.to, customer_id=mail.customer_id,
          reference=mail.reference, context=mail.context)
