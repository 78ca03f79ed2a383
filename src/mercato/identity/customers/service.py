"""Customer records: emails (unique per organization), phones, addresses, tags, merging
duplicates, and the shopper's address book.

Orders refer to customers, not the other way round: what a customer's orders are worth is
``orders.customers.stats``, and orders follow their customers by listening to
``identity.ports.emails_claimed`` (guest orders placed with a customer's new emails link to it)
and ``customers_merging`` (merged duplicates' orders move before the duplicates are deleted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Text, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from mercato.core.db import json_dumps, require_owned
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.like import like_contains
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.identity import ports
from mercato.identity.customers.models import Customer, CustomerAddress, CustomerEmail
from mercato.identity.customers.schemas import (
    CustomerAddressIn,
    CustomerAddressOut,
    CustomerIn,
    CustomerOut,
    CustomerUpdate,
)


def get_customer(session: Session, customer_id: str) -> Customer:
    return require_owned(session, Customer, customer_id, "Customer")


def customer_tags(session: Session, customer_id: str) -> list[str]:
    """The customer's tags (pricing's customer groups); none for an unknown customer."""
    return list(session.scalar(select(Customer.tags).where(Customer.id == customer_id)) or [])


def customer_id_for_email(session: Session, email: str) -> str | None:
    """The customer known by this (normalized) email, if any."""
    return session.scalar(select(CustomerEmail.customer_id).where(CustomerEmail.email == email))


def _emails(primary: str | None, others: Sequence[str]) -> list[str]:
    return sorted({e for e in [primary, *others] if e})


def _claim_emails(session: Session, customer: Customer, emails: list[str]) -> None:
    """Make ``emails`` this customer's; one already another customer's is a 409, and the
    ``emails_claimed`` listeners hear of them (orders placed with them before link here)."""
    taken = dict(session.execute(select(CustomerEmail.email, CustomerEmail.customer_id)
                                 .where(CustomerEmail.email.in_(emails))).all())
    clash = [e for e in emails if taken.get(e) not in (None, customer.id)]
    if clash:
        raise Conflict("Another customer has that email.", errors=[
            {"field": "email", "message": f"{e} belongs to customer {taken[e]}"}
            for e in clash])
    customer.emails = [e for e in customer.emails if e.email in emails] + [
        CustomerEmail(email=e) for e in emails if e not in {x.email for x in customer.emails}]
    session.flush()
    if emails:
        ports.emails_claimed(session, customer.id, emails)


def _addresses(given: Sequence[CustomerAddressIn]) -> list[CustomerAddress]:
    for flag in ("default_shipping", "default_billing"):
        if sum(1 for a in given if getattr(a, flag)) > 1:
            raise ValidationFailed("One default address of each kind.", errors=[
                {"field": "addresses", "message": f"more than one {flag}"}])
    return [CustomerAddress(address=a.address.model_dump(), default_shipping=a.default_shipping,
                            default_billing=a.default_billing) for a in given]


def create_customer(session: Session, data: CustomerIn) -> Customer:
    customer = Customer(email=data.email, first_name=data.first_name,
                        last_name=data.last_name, phones=list(dict.fromkeys(data.phones)),
                        tags=sorted(set(data.tags)), note=data.note,
                        addresses=_addresses(data.addresses))
    session.add(customer)
    session.flush()
    _claim_emails(session, customer, _emails(data.email, data.emails))
    return customer


def update_customer(session: Session, customer: Customer, data: CustomerUpdate) -> Customer:
    given = data.model_dump(exclude_unset=True)
    for name in ("first_name", "last_name", "note"):
        if name in given:
            setattr(customer, name, given[name])
    if data.phones is not None:
        customer.phones = list(dict.fromkeys(data.phones))
    if data.tags is not None:
        customer.tags = sorted(set(data.tags))
    if data.addresses is not None:
        customer.addresses = _addresses(data.addresses)
    if "email" in given or data.emails is not None:
        if "email" in given:
            customer.email = data.email
        others = data.emails if data.emails is not None else [
            e.email for e in customer.emails if e.email != customer.email]
        _claim_emails(session, customer, _emails(customer.email, others))
    session.flush()
    return customer


def list_customers(session: Session, params: PageParams, *, q: str | None,
                   tag: str | None) -> Slice[Customer]:
    stmt = select(Customer)
    if q:
        text = q.strip().lower()
        stmt = stmt.where(or_(
            like_contains(func.lower(func.coalesce(Customer.first_name, "") + " "
                                     + func.coalesce(Customer.last_name, "")), text),
            Customer.id.in_(select(CustomerEmail.customer_id)
                            .where(like_contains(CustomerEmail.email, text)))))
    if tag:
        # tags are few per customer: the JSON text holds the tag, quoted and escaped as JSON
        # writes it, exactly when the customer has it
        stmt = stmt.where(like_contains(cast(Customer.tags, Text), json_dumps(tag)))
    return paginate(session, stmt, [(Customer.id, True)], params)


def customer_out(customer: Customer, figures: ports.Figures | None) -> CustomerOut:
    count, value = figures or (0, {})
    return CustomerOut(
        id=customer.id, email=customer.email, emails=[e.email for e in customer.emails],
        first_name=customer.first_name, last_name=customer.last_name, phones=customer.phones,
        tags=customer.tags, note=customer.note,
        addresses=[CustomerAddressOut.model_validate(a) for a in customer.addresses],
        orders_count=count, lifetime_value=value,
        created_at=customer.created_at, updated_at=customer.updated_at)


def merge(session: Session, customer: Customer, duplicate_ids: Sequence[str]) -> Customer:
    """Fold duplicates into ``customer``: their emails, phones, tags, addresses and orders
    move here and the duplicates are deleted, all in one transaction."""
    if customer.id in duplicate_ids:
        raise ValidationFailed("A customer cannot be merged into itself.", errors=[
            {"field": "duplicates", "message": "contains the customer itself"}])
    duplicates = list(session.scalars(select(Customer).where(Customer.id.in_(duplicate_ids))))
    missing = sorted(set(duplicate_ids) - {d.id for d in duplicates})
    if missing:
        raise ValidationFailed("Unknown customers.", errors=[
            {"field": "duplicates", "message": f"no customer {m!r}"} for m in missing])
    emails = {e.email for e in customer.emails}
    phones, tags = list(customer.phones), set(customer.tags)
    for dup in duplicates:
        emails |= {e.email for e in dup.emails}
        phones += [p for p in dup.phones if p not in phones]
        tags |= set(dup.tags)
        for address in dup.addresses:
            customer.addresses.append(CustomerAddress(
                address=address.address, default_shipping=False, default_billing=False))
        if customer.email is None:
            customer.email = dup.email
    ids = [d.id for d in duplicates]
    ports.customers_merging(session, customer.id, ids)
    session.execute(delete(CustomerEmail).where(CustomerEmail.customer_id.in_(ids))
                    .execution_options(synchronize_session=False))
    for dup in duplicates:
        session.expire(dup, ["emails"])
        session.delete(dup)
    session.flush()
    customer.phones, customer.tags = phones, sorted(tags)
    _claim_emails(session, customer, sorted(emails))
    session.flush()
    return customer


# -- the shopper's address book -------------------------------------------------------------------

def _only_default(customer: Customer, kept: CustomerAddress) -> None:
    """A new default of a kind takes the flag from the customer's other addresses."""
    for other in customer.addresses:
        if other is kept:
            continue
        if kept.default_shipping:
            other.default_shipping = False
        if kept.default_billing:
            other.default_billing = False


def add_address(session: Session, customer: Customer, address: dict[str, Any], *,
                default_shipping: bool, default_billing: bool) -> CustomerAddress:
    first = not customer.addresses  # the first address is the default of both kinds
    row = CustomerAddress(address=address, default_shipping=default_shipping or first,
                          default_billing=default_billing or first)
    customer.addresses.append(row)
    _only_default(customer, row)
    session.flush()
    return row


def _address(customer: Customer, address_id: str) -> CustomerAddress:
    for row in customer.addresses:
        if row.id == address_id:
            return row
    raise NotFound(f"No address {address_id!r}.")


def update_address(session: Session, customer: Customer, address_id: str,
                   changes: dict[str, Any]) -> CustomerAddress:
    row = _address(customer, address_id)
    for name in ("address", "default_shipping", "default_billing"):
        if changes.get(name) is not None:
            setattr(row, name, changes[name])
    _only_default(customer, row)
    session.flush()
    return row


def delete_address(session: Session, customer: Customer, address_id: str) -> None:
    customer.addresses.remove(_address(customer, address_id))
    session.flush()
