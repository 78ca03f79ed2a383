"""Every table, imported in one place for Alembic and for tests that inspect the schema."""

from mercato.core.idempotency import IdempotencyKey
from mercato.core.outbox import OutboxDelivery, OutboxEvent
from mercato.identity.models import ApiKey, AuditEntry, LoginFailure, StaffUser
from mercato.tenancy.models import Organization, OrganizationDomain

__all__ = [
    "ApiKey",
    "AuditEntry",
    "IdempotencyKey",
    "LoginFailure",
    "Organization",
    "OrganizationDomain",
    "OutboxDelivery",
    "OutboxEvent",
    "StaffUser",
]
