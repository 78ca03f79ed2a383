"""Every table, imported in one place for Alembic and for tests that inspect the schema."""

from mercato.catalog.models import (
    Category,
    Collection,
    ImportJob,
    ImportRowError,
    Product,
    ProductCollection,
    ProductFacet,
    ProductSearch,
    ProductType,
    Variant,
)
from mercato.core.idempotency import IdempotencyKey
from mercato.core.outbox import OutboxDelivery, OutboxEvent
from mercato.identity.models import ApiKey, AuditEntry, LoginFailure, StaffUser
from mercato.tenancy.models import Organization, OrganizationDomain

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Category",
    "Collection",
    "IdempotencyKey",
    "ImportJob",
    "ImportRowError",
    "LoginFailure",
    "Organization",
    "OrganizationDomain",
    "OutboxDelivery",
    "OutboxEvent",
    "Product",
    "ProductCollection",
    "ProductFacet",
    "ProductSearch",
    "ProductType",
    "StaffUser",
    "Variant",
]
