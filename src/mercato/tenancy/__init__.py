"""Tenancy: organizations (tenants), their slugs and custom domains.

This package is tenancy's face: other modules import from here (or from ``tenancy.service``),
never its ``models`` or internals.

- ``Store`` / ``StoreResolver``: the store a storefront request is for (by slug; custom domains
  are rewritten to the slug by the middleware in ``tenancy.deps``).
- ``get_organization``, ``get_by_slug``, ``create_organization``; ``Organization`` is the row
  they return (read it, do not query it).
- ``organization_settings(session, organization_id)`` -> ``OrgSettings`` (``time_zone``,
  ``locale``, ``currency``): what the store's days, formats and reports follow.
- ``storefront_url``: the only source of links in emails (``MERCATO_PUBLIC_URL`` or the
  store's verified domain, never a request's ``Host``).
"""

from __future__ import annotations

from mercato.tenancy.models import Organization
from mercato.tenancy.service import (
    DomainResolver,
    OrgSettings,
    create_organization,
    get_by_slug,
    get_organization,
    organization_settings,
    storefront_url,
)
from mercato.tenancy.store import Store, StoreResolver

__all__ = [
    "DomainResolver",
    "OrgSettings",
    "Organization",
    "Store",
    "StoreResolver",
    "create_organization",
    "get_by_slug",
    "get_organization",
    "organization_settings",
    "storefront_url",
]
