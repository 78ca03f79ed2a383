"""Every table, imported in one place for Alembic and for tests that inspect the schema."""

from mercato.catalog.models import Category, Product, ProductType, Variant
from mercato.core.idempotency import IdempotencyKey
from mercato.core.outbox import OutboxDelivery, OutboxEvent
from mercato.identity.models import ApiKey, AuditEntry, LoginFailure, StaffUser
from mercato.tenancy.models import Organization, OrganizationDomain

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Category",
    "IdempotencyKey",
    "LoginFailure",
    "Organization",
    "OrganizationDomain",
    "OutboxDelivery",
    "OutboxEvent",
    "Product",
    "ProductType",
    "StaffUser",
    "Variant",
]
