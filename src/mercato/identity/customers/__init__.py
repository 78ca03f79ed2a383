"""Customers: the people who buy (``customers``, ``customer_emails``, ``customer_addresses``),
their emails, addresses and merging; a shopper's account (``identity.customer_auth``) signs
in to one.

Its face, for other modules:

- ``get_customer(session, customer_id)``: a customer (404 when unknown).
- ``create_customer(session, data)``: a new customer from a ``schemas.CustomerIn``.
- ``customer_id_for_email(session, email)``: who is known by a (normalized) email.
- ``on_emails_claimed`` / ``on_merging``: listeners orders registers to follow customers.
"""

from __future__ import annotations

from mercato.identity.customers.service import (
    create_customer,
    customer_id_for_email,
    get_customer,
    on_emails_claimed,
    on_merging,
)

__all__ = ["create_customer", "customer_id_for_email", "get_customer", "on_emails_claimed",
           "on_merging"]
