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
- Shoppers' accounts, as the storefront's pages use them through the same calls as
  ``/store/v1/{store}/customers``, ``/auth/...`` and ``/me`` (``customer_auth``):
  ``sign_up_customer`` / ``SignUpIn``, ``check_customer_password`` (before the request's
  transaction: it counts failures), ``customer_account``, ``customer_profile``,
  ``request_password_reset``, ``reset_customer_password``, ``request_email_verification``,
  ``verify_customer_email``; the pages' server-side sessions ``start_customer_session``,
  ``customer_session`` (the ``Shopper`` of a cookie, or None), ``end_customer_session``; the
  address book ``add_customer_address`` / ``AddressBookIn``.
- Platform operators (``identity.operators``), as the operator's console pages use them
  through the same calls as ``/api/platform/v1``: ``Operator``, ``issue_operator_token``,
  ``verify_operator``, ``confirm_operator``, ``sign_out_operator``; the forms' schemas
  ``OperatorLimits`` and ``PlatformOrganizationCreate``. Signing in is
  ``service.Identity.check_operator_password``, creating an organization with its owner
  ``service.Identity.create_organization``.
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
from mercato.identity.customer_auth import email_verified, request_password_reset
from mercato.identity.customer_auth import end_web_session as end_customer_session
from mercato.identity.customer_auth import get_account as customer_account
from mercato.identity.customer_auth import profile as customer_profile
from mercato.identity.customer_auth import request_verification as request_email_verification
from mercato.identity.customer_auth import reset_password as reset_customer_password
from mercato.identity.customer_auth import sign_up as sign_up_customer
from mercato.identity.customer_auth import start_web_session as start_customer_session
from mercato.identity.customer_auth import verify_email as verify_customer_email
from mercato.identity.customer_auth import verify_password as check_customer_password
from mercato.identity.customer_auth import web_session_shopper as customer_session
from mercato.identity.customers.schemas import (
    Address,
    CustomerIn,
    CustomerOut,
    CustomerUpdate,
    Email,
    MergeIn,
)
from mercato.identity.customers.service import add_address as add_customer_address
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
from mercato.identity.operators import Operator
from mercato.identity.operators import confirm as confirm_operator
from mercato.identity.operators import issue as issue_operator_token
from mercato.identity.operators import sign_out as sign_out_operator
from mercato.identity.operators import verify as verify_operator
from mercato.identity.platform.schemas import Limits as OperatorLimits
from mercato.identity.platform.schemas import OrganizationCreate as PlatformOrganizationCreate
from mercato.identity.schemas_store import AddressBookIn, SignUpIn
from mercato.identity.shoppers import Shopper

__all__ = [
    "Address",
    "AddressBookIn",
    "AuditTrailEntry",
    "CustomerIn",
    "CustomerOut",
    "CustomerUpdate",
    "Email",
    "MergeIn",
    "Operator",
    "OperatorLimits",
    "PlatformOrganizationCreate",
    "Shopper",
    "SignUpIn",
    "add_customer_address",
    "annotate_audit",
    "audit_action",
    "audit_trail",
    "check_customer_password",
    "confirm_operator",
    "create_customer",
    "customer_account",
    "customer_id_for_email",
    "customer_out",
    "customer_profile",
    "customer_session",
    "customer_tags",
    "email_verified",
    "end_customer_session",
    "get_audit_entry",
    "get_customer",
    "issue_operator_token",
    "list_audit_entries",
    "list_customers",
    "merge_customers",
    "record_audit",
    "request_email_verification",
    "request_password_reset",
    "reset_customer_password",
    "sign_out_operator",
    "sign_up_customer",
    "start_customer_session",
    "update_customer",
    "verify_customer_email",
    "verify_operator",
]
