"""Identity: staff, roles and permissions, access tokens, API keys and the audit log;
customers, and shoppers' accounts on them.

This package is identity's face for customers and shoppers (``identity.service`` is staff's,
``identity.ports`` the ports it declares for the modules above it): other modules import
these names from here, never ``identity.customers``' models or schemas.

- ``Shopper``: the signed-in shopper a storefront use case acts for.
- ``email_verified(session, shopper)``: whether the shopper's email is proven.
- ``get_customer``, ``create_customer`` / ``CustomerIn``, ``customer_id_for_email``,
  ``customer_tags``: customers. The staff's customer records, as the admin's pages show and
  edit them through the same calls as ``/api/v1/customers``: ``list_customers``,
  ``update_customer`` / ``CustomerUpdate``, ``merge_customers`` / ``MergeIn``, and
  ``customer_out`` (a record with its order figures, ``CustomerOut``).
- The audit log, written automatically for every ORM change; what other modules add to it:
  ``list_audit_entries`` / ``get_audit_entry`` (read it, newest first, with filters),
  ``record_audit`` (an entry for a change that is not one row's, such as an import),
  ``annotate_audit`` (child rows' fields for a row's entry), ``audit_action`` (a block whose
  updates of a row are named, ``order.fulfilled`` rather than ``order.updated``).
  ``audit_trail(session, resource_type, resource_id)``: one resource's history (what, who,
  when; ``AuditTrailEntry``), for a timeline such as an order's.
- ``Address``, ``Email``: the address with a name and the lowercased email that orders and
  carts take as input, as customers do.
"""

from __future__ import annotations

from mercato.identity.audit import TrailEntry as AuditTrailEntry
from mercato.identity.audit import annotate as annotate_audit
from mercato.identity.audit import get_entry as get_audit_entry
from mercato.identity.audit import list_entries as list_audit_entries
from mercato.identity.audit import named as audit_action
from mercato.identity.audit import record as record_audit
from mercato.identity.audit import trail as audit_trail
from mercato.identity.customer_auth import email_verified
from mercato.identity.customers.schemas import (
    Address,
    CustomerIn,
    CustomerOut,
    CustomerUpdate,
    Email,
    MergeIn,
)
from mercato.identity.customers.service import (
    create_customer,
    customer_id_for_email,
    customer_out,
    customer_tags,
    get_customer,
    list_customers,
    update_customer,
)
from mercato.identity.customers.service import merge as merge_customers
from mercato.identity.shoppers import Shopper

__all__ = [
    "Address",
    "AuditTrailEntry",
    "CustomerIn",
    "CustomerOut",
    "CustomerUpdate",
    "Email",
    "MergeIn",
    "Shopper",
    "annotate_audit",
    "audit_action",
    "audit_trail",
    "create_customer",
    "customer_id_for_email",
    "customer_out",
    "customer_tags",
    "email_verified",
    "get_audit_entry",
    "get_customer",
    "list_audit_entries",
    "list_customers",
    "merge_customers",
    "record_audit",
    "update_customer",
]
