"""Tenancy: organizations (tenants), their slugs and custom domains.

This package is tenancy's face: other modules import from here (or from ``tenancy.service``),
never its ``models`` or internals.

- ``Store`` / ``StoreResolver``: the store a storefront request is for (by slug; custom domains
  are rewritten to the slug by the middleware in ``tenancy.deps``).
- ``get_organization``, ``get_by_slug``, ``create_organization``; ``Organization`` is the row
  they return (read it, do not query it).
- Custom domains: ``add_domain``, ``list_domains``, ``get_domain``, ``remove_domain``; a
  verification is ``read_claim``, then ``run_verifier`` (``DomainProof``), then
  ``record_proof``; ``dns_name`` / ``http_path`` say where the proof goes.
- ``organization_settings(session, organization_id)`` -> ``OrgSettings`` (``time_zone``,
  ``locale``, ``currency``): what the store's days, formats and reports follow.
- The platform operator's decisions (``tenancy.platform``): ``suspend``, ``reactivate``,
  ``set_plan``, ``list_organizations``; the checks ``require_active`` (423 when suspended, read
  in the transaction: token issuance), ``check_limit`` (409 ``plan_limit``) and
  ``suspended_organizations`` (background work held back); ``OrganizationGate``, the cached
  per-request check (``tenancy.deps.check_organization``).
- ``storefront_url``: the only source of links in emails (``MERCATO_PUBLIC_URL`` or the
  store's verified domain, never a request's ``Host``).
"""

from __future__ import annotations

from mercato.tenancy.gate import OrganizationGate, OrgState
from mercato.tenancy.models import Organization
from mercato.tenancy.platform import (
    LIMIT_KEYS,
    check_limit,
    list_organizations,
    organization_limits,
    reactivate,
    require_active,
    set_plan,
    suspend,
    suspended_organizations,
)
from mercato.tenancy.service import (
    DomainResolver,
    OrgSettings,
    add_domain,
    create_organization,
    get_by_slug,
    get_domain,
    get_organization,
    list_domains,
    organization_settings,
    read_claim,
    record_proof,
    remove_domain,
    storefront_url,
)
from mercato.tenancy.store import Store, StoreResolver
from mercato.tenancy.verification import DomainProof, dns_name, http_path, run_verifier

__all__ = [
    "LIMIT_KEYS",
    "DomainProof",
    "DomainResolver",
    "OrgSettings",
    "OrgState",
    "Organization",
    "OrganizationGate",
    "Store",
    "StoreResolver",
    "add_domain",
    "check_limit",
    "create_organization",
    "dns_name",
    "get_by_slug",
    "get_domain",
    "get_organization",
    "http_path",
    "list_domains",
    "list_organizations",
    "organization_limits",
    "organization_settings",
    "reactivate",
    "read_claim",
    "record_proof",
    "remove_domain",
    "require_active",
    "run_verifier",
    "set_plan",
    "storefront_url",
    "suspend",
    "suspended_organizations",
]
