"""Gift cards and store credit: balances that never go below zero, and their ledgers.

Every change is one conditional UPDATE (``... SET balance = balance + :delta WHERE balance +
:delta >= 0``) plus one ledger row, in a savepoint of the caller's transaction: correct under
any number of concurrent writers on both databases and across processes, without reading the
balance first. A ledger row may carry an idempotency key (unique per organization): the same
key again returns the first row and moves no money.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato.core import money
from mercato.core.db import require_owned, table_of, tenant_of, utcnow
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.ids import new_id
from mercato.core.money import MAX_AMOUNT
from mercato.core.outbox import record_event
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.identity import get_customer
from mercato.payments.models import (
    GiftCard,
    GiftCardTransaction,
    StoreCreditBalance,
    StoreCreditEntry,
)

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud at a till
CODE_GROUPS = 4

E = TypeVar("E", GiftCardTransaction, StoreCreditEntry)


class InsufficientBalance(Conflict):
    """The card or the customer's credit does not cover the amount; nothing was taken."""

    code = "insufficient_balance"


def _too_much(balance_cents: int, delta_cents: int, what: str) -> Conflict:
    """A balance is an amount like any other: it stays within ``MAX_AMOUNT``."""
    return Conflict(
        f"{what} is {from_cents(balance_cents)}; adding {from_cents(delta_cents)} would take it "
        f"past the largest amount, {MAX_AMOUNT}.",
        errors=[{"field": "amount", "message": f"the balance would exceed {MAX_AMOUNT}"}],
        extra={"balance": f"{from_cents(balance_cents):.2f}"})


def to_cents(amount: Decimal) -> int:
    """Exact hundredths; amounts reach here validated (``Money``), so more places is a bug."""
    return money.to_minor(amount)


def from_cents(cents: int) -> Decimal:
    return money.from_minor(cents)


MAX_BALANCE_CENTS = to_cents(MAX_AMOUNT)


def _organization(session: Session) -> str:
    tenant = tenant_of(session)
    if tenant is None or tenant == "*":
        raise RuntimeError("ledger writes need a session scoped to one organization")
    return tenant


def _replayed(session: Session, model: type[E], idempotency_key: str | None) -> E | None:
    if idempotency_key is None:
        return None
    return session.scalars(select(model).where(
        model.idempotency_key == idempotency_key)).first()


# -- gift cards ---------------------------------------------------------------------------------

def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def hash_code(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def generate_code() -> str:
    """16 characters (80 bits) in groups of four: unguessable, and easy to type."""
    chars = "".join(secrets.choice(CODE_ALPHABET) for _ in range(4 * CODE_GROUPS))
    return "-".join(chars[i:i + 4] for i in range(0, len(chars), 4))


def check_customer(session: Session, customer_id: str | None) -> None:
    """A card may name only an existing customer of the organization (422 otherwise)."""
    if customer_id is None:
        return
    try:
        get_customer(session, customer_id)
    except NotFound:
        raise ValidationFailed("No such customer.", errors=[
            {"field": "customer_id", "message": "no customer with this id"}]) from None


def issue_gift_card(session: Session, *, amount: Decimal, currency: str,
                    expires_at: dt.datetime | None = None, customer_id: str | None = None,
                    note: str | None = None, code: str | None = None,
                    reference: str | None = None) -> tuple[GiftCard, str]:
    """A new card and its code (the only time the code exists outside the holder's hands)."""
    check_customer(session, customer_id)
    from mercato.core.db import add_unique

    code = code or generate_code()
    normalized = normalize_code(code)
    cents = to_cents(amount)
    card = GiftCard(id=new_id(), code_hash=hash_code(code), last4=normalized[-4:],
                    currency=currency, initial_balance_cents=cents, balance_cents=cents,
                    expires_at=expires_at, disabled=False, customer_id=customer_id, note=note)
    add_unique(session, card, field="code", detail="A gift card with this code exists.")
    session.add(GiftCardTransaction(gift_card_id=card.id, kind="issue", delta_cents=cents,
                                    balance_after_cents=cents, reference=reference))
    record_event(session, "gift_card.issued", resource_type="gift_card", resource_id=card.id,
                 data={"gift_card": gift_card_summary(card)})
    return card, code


def gift_card_summary(card: GiftCard) -> dict[str, Any]:
    return {"id": card.id, "last4": card.last4, "currency": card.currency,
            "balance": f"{from_cents(card.balance_cents):.2f}",
            "customer_id": card.customer_id, "disabled": card.disabled}


def gift_card_status(card: GiftCard) -> str:
    """active, empty, expired or disabled: what the API and the admin show, and what
    ``list_gift_cards(status=)`` filters by."""
    if card.disabled:
        return "disabled"
    if card.expires_at is not None and card.expires_at <= utcnow():
        return "expired"
    return "active" if card.balance_cents > 0 else "empty"


def gift_card_fields(card: GiftCard) -> dict[str, Any]:
    """A card as shown (never its code: only its last four characters)."""
    return {"id": card.id, "masked_code": f"****-****-****-{card.last4}", "last4": card.last4,
            "currency": card.currency,
            "initial_balance": from_cents(card.initial_balance_cents),
            "balance": from_cents(card.balance_cents), "status": gift_card_status(card),
            "expires_at": card.expires_at, "disabled": card.disabled,
            "customer_id": card.customer_id, "note": card.note, "created_at": card.created_at,
            "updated_at": card.updated_at}


def update_gift_card(session: Session, card: GiftCard, changes: dict[str, Any]) -> None:
    """Change a card's expiry, note, customer or disabled flag (never its balance: that moves
    only through ``move_gift_card``)."""
    check_customer(session, changes.get("customer_id"))
    for name, value in changes.items():
        setattr(card, name, value)


def get_gift_card(session: Session, gift_card_id: str) -> GiftCard:
    return require_owned(session, GiftCard, gift_card_id, "Gift card")


def find_gift_card(session: Session, code: str) -> GiftCard | None:
    return session.scalars(select(GiftCard).where(GiftCard.code_hash == hash_code(code))).first()


def list_gift_cards(session: Session, params: PageParams, *, customer_id: str | None = None,
                    code: str | None = None, status: str | None = None) -> Slice[GiftCard]:
    stmt: Select[Any] = select(GiftCard)
    if customer_id is not None:
        stmt = stmt.where(GiftCard.customer_id == customer_id)
    if code is not None:
        stmt = stmt.where(GiftCard.code_hash == hash_code(code))
    now = utcnow()
    if status == "active":
        stmt = stmt.where(GiftCard.disabled.is_(False), GiftCard.balance_cents > 0,
                          or_(GiftCard.expires_at.is_(None), GiftCard.expires_at > now))
    elif status == "disabled":
        stmt = stmt.where(GiftCard.disabled.is_(True))
    elif status == "expired":
        stmt = stmt.where(GiftCard.expires_at <= now)
    elif status == "empty":
        stmt = stmt.where(GiftCard.balance_cents == 0)
    return paginate(session, stmt, [(GiftCard.id, True)], params)


def list_gift_card_transactions(session: Session, card: GiftCard,
                                params: PageParams) -> Slice[GiftCardTransaction]:
    stmt: Select[Any] = select(GiftCardTransaction).where(
        GiftCardTransaction.gift_card_id == card.id)
    return paginate(session, stmt, [(GiftCardTransaction.id, True)], params)


def unusable_reason(card: GiftCard, currency: str | None = None) -> str | None:
    """Why a card cannot pay now, or None."""
    if card.disabled:
        return "gift card disabled"
    if card.expires_at is not None and card.expires_at <= utcnow():
        return "gift card expired"
    if currency is not None and card.currency != currency:
        return f"gift card is in {card.currency}"
    return None


def move_gift_card(session: Session, card: GiftCard, delta_cents: int, *, kind: str,
                   reason: str | None = None, reference: str | None = None,
                   idempotency_key: str | None = None,
                   usable_only: bool = False) -> GiftCardTransaction:
    """Change a card's balance by ``delta_cents``: ``InsufficientBalance`` when it would go
    below zero. ``usable_only`` (redemptions) also refuses a disabled or expired card, in the
    same UPDATE, so a card disabled a moment ago cannot be spent."""
    done = _replayed(session, GiftCardTransaction, idempotency_key)
    if done is not None:
        return done
    table = table_of(GiftCard)
    conditions = [table.c.id == card.id, table.c.organization_id == _organization(session)]
    if delta_cents < 0:
        conditions.append(table.c.balance_cents + delta_cents >= 0)
    else:
        conditions.append(table.c.balance_cents + delta_cents <= MAX_BALANCE_CENTS)
    if usable_only:
        conditions += [table.c.disabled.is_(False),
                       or_(table.c.expires_at.is_(None), table.c.expires_at > utcnow())]
    try:
        with session.begin_nested():
            after = session.execute(
                update(table).where(and_(*conditions))
                .values(balance_cents=table.c.balance_cents + delta_cents, updated_at=utcnow())
                .returning(table.c.balance_cents)).scalar()
            if after is None:
                session.refresh(card)
                if delta_cents > 0 and card.balance_cents + delta_cents > MAX_BALANCE_CENTS:
                    raise _too_much(card.balance_cents, delta_cents, "The gift card's balance")
                why = unusable_reason(card) if usable_only else None
                raise InsufficientBalance(
                    f"The gift card cannot give {from_cents(-delta_cents)}: "
                    + (why or f"its balance is {from_cents(card.balance_cents)}."),
                    errors=[{"field": "amount", "message": why or "insufficient balance"}],
                    extra={"balance": f"{from_cents(card.balance_cents):.2f}"})
            entry = GiftCardTransaction(gift_card_id=card.id, kind=kind, delta_cents=delta_cents,
                                        balance_after_cents=int(after), reference=reference,
                                        reason=reason, idempotency_key=idempotency_key)
            session.add(entry)
            session.flush()
    except IntegrityError:
        done = _replayed(session, GiftCardTransaction, idempotency_key)
        if done is None:
            raise
        return done
    session.expire(card, ["balance_cents", "updated_at"])
    record_event(session, "gift_card.balance_changed", resource_type="gift_card",
                 resource_id=card.id, data={"transaction": transaction_summary(entry),
                                            "currency": card.currency})
    return entry


def transaction_summary(entry: GiftCardTransaction | StoreCreditEntry) -> dict[str, Any]:
    return {"id": entry.id, "kind": entry.kind, "amount": f"{from_cents(entry.delta_cents):.2f}",
            "balance_after": f"{from_cents(entry.balance_after_cents):.2f}",
            "reference": entry.reference, "reason": entry.reason}


# -- store credit -------------------------------------------------------------------------------

def _ensure_balance_row(session: Session, customer_id: str, currency: str) -> None:
    table = table_of(StoreCreditBalance)
    values = {"id": new_id(), "organization_id": _organization(session),
              "customer_id": customer_id, "currency": currency, "balance_cents": 0,
              "updated_at": utcnow()}
    keys = ["organization_id", "customer_id", "currency"]
    if session.get_bind().dialect.name == "postgresql":
        session.execute(postgresql.insert(table).values(**values)
                        .on_conflict_do_nothing(index_elements=keys))
    else:
        session.execute(sqlite.insert(table).values(**values)
                        .on_conflict_do_nothing(index_elements=keys))


def move_store_credit(session: Session, customer_id: str, currency: str, delta_cents: int, *,
                      kind: str, reason: str | None = None, reference: str | None = None,
                      idempotency_key: str | None = None) -> StoreCreditEntry:
    """Change a customer's credit in ``currency`` by ``delta_cents``; ``InsufficientBalance``
    when it would go below zero. The customer must exist (the caller checks)."""
    done = _replayed(session, StoreCreditEntry, idempotency_key)
    if done is not None:
        return done
    table = table_of(StoreCreditBalance)
    conditions = [table.c.organization_id == _organization(session),
                  table.c.customer_id == customer_id, table.c.currency == currency]
    if delta_cents < 0:
        conditions.append(table.c.balance_cents + delta_cents >= 0)
    else:
        conditions.append(table.c.balance_cents + delta_cents <= MAX_BALANCE_CENTS)
    try:
        with session.begin_nested():
            if delta_cents > 0:
                _ensure_balance_row(session, customer_id, currency)
            after = session.execute(
                update(table).where(and_(*conditions))
                .values(balance_cents=table.c.balance_cents + delta_cents, updated_at=utcnow())
                .returning(table.c.balance_cents)).scalar()
            if after is None:
                have = store_credit_balance(session, customer_id, currency)
                if delta_cents > 0:
                    raise _too_much(have, delta_cents, f"The customer's {currency} store credit")
                raise InsufficientBalance(
                    f"The customer's store credit is {from_cents(have)} {currency}; "
                    f"{from_cents(-delta_cents)} cannot be taken.",
                    errors=[{"field": "amount", "message": "insufficient balance"}],
                    extra={"balance": f"{from_cents(have):.2f}"})
            entry = StoreCreditEntry(customer_id=customer_id, currency=currency, kind=kind,
                                     delta_cents=delta_cents, balance_after_cents=int(after),
                                     reference=reference, reason=reason,
                                     idempotency_key=idempotency_key)
            session.add(entry)
            session.flush()
    except IntegrityError:
        done = _replayed(session, StoreCreditEntry, idempotency_key)
        if done is None:
            raise
        return done
    record_event(session, "store_credit.balance_changed", resource_type="customer",
                 resource_id=customer_id, data={"entry": transaction_summary(entry),
                                                "currency": currency})
    return entry


def store_credit_balance(session: Session, customer_id: str, currency: str) -> int:
    return session.scalar(select(StoreCreditBalance.balance_cents).where(
        StoreCreditBalance.customer_id == customer_id,
        StoreCreditBalance.currency == currency)) or 0


def store_credit_balances(session: Session, customer_id: str) -> Sequence[StoreCreditBalance]:
    return list(session.scalars(select(StoreCreditBalance).where(
        StoreCreditBalance.customer_id == customer_id).order_by(StoreCreditBalance.currency)))


def list_store_credit_entries(session: Session, customer_id: str, params: PageParams, *,
                              currency: str | None = None) -> Slice[StoreCreditEntry]:
    stmt: Select[Any] = select(StoreCreditEntry).where(
        StoreCreditEntry.customer_id == customer_id)
    if currency is not None:
        stmt = stmt.where(StoreCreditEntry.currency == currency)
    return paginate(session, stmt, [(StoreCreditEntry.id, True)], params)


