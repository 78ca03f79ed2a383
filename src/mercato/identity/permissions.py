"""Named permissions and the roles that bundle them. docs/permissions.md renders this table."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    INVENTORY = "inventory"
    FULFILLMENT = "fulfillment"
    CASHIER = "cashier"


PERMISSIONS: dict[str, str] = {
    "organization:read": "See the organization's settings and domains.",
    "organization:write": "Change the organization's settings and custom domains.",
    "staff:read": "List staff members.",
    "staff:write": "Add staff, change roles, deactivate accounts.",
    "api_keys:read": "List API keys (never their secrets).",
    "api_keys:write": "Create and revoke API keys.",
    "api_keys:reassign": "Give an API key another owner (whose permissions then bound it).",
    "audit:read": "Read the audit log.",
    "catalog:read": "Read products, variants and product types.",
    "catalog:write": "Create and change products, variants and product types; import.",
    "inventory:read": "Read locations, stock levels and the ledger.",
    "inventory:write": "Adjust stock, transfer, count, receive purchase orders.",
    "orders:read": "Read orders and customers' order history.",
    "orders:write": "Create, edit, cancel and refund orders.",
    "fulfillment:write": "Fulfil orders and record returns.",
    "customers:read": "Read customer records.",
    "customers:write": "Create, edit and merge customers.",
    "pos:sell": "Sell at the point of sale.",
    "pos:discount": "Give line and order discounts at the point of sale.",
    "pricing:read": "Read price lists, pricing rules and promotions.",
    "pricing:write": "Manage price lists, pricing rules and promotions.",
    "checkout:read": "Read tax rates, shipping zones and shipping methods.",
    "checkout:write": "Manage tax rates, shipping zones and shipping methods.",
    "payments:read": "Read payment settings, gift cards and store credit.",
    "payments:write": "Configure payment gateways; issue gift cards and store credit.",
    "reviews:moderate": "Approve, reject and delete product reviews.",
    "notifications:read": "Read the record of emails sent to customers.",
    "channels:read": "See channels, sync jobs and their health.",
    "channels:write": "Connect channels and run sync jobs.",
    "webhooks:read": "See outbound webhook endpoints and deliveries.",
    "webhooks:write": "Manage outbound webhook endpoints and retry deliveries.",
    "events:read": "See event deliveries that failed every attempt (dead letters).",
    "events:write": "Replay dead-lettered event deliveries.",
    "reports:read": "Read reports.",
    "workflows:read": "See workflows and their executions.",
    "workflows:write": "Create, change, enable, disable and test-run workflows.",
    "plugins:read": "See the installed plugins and this organization's settings of them.",
    "plugins:write": "Enable, configure and disable plugins for this organization.",
}

ALL = frozenset(PERMISSIONS)

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.OWNER: ALL,
    Role.MANAGER: ALL - {"organization:write", "api_keys:reassign"},
    Role.INVENTORY: frozenset({
        "catalog:read", "catalog:write", "inventory:read", "inventory:write", "orders:read",
        "channels:read", "reports:read",
    }),
    Role.FULFILLMENT: frozenset({
        "catalog:read", "inventory:read", "orders:read", "fulfillment:write", "customers:read",
    }),
    Role.CASHIER: frozenset({
        "catalog:read", "inventory:read", "orders:read", "orders:write", "customers:read",
        "customers:write", "pos:sell", "pricing:read", "checkout:read", "payments:read",
    }),
}


def permissions_for(role: str) -> frozenset[str]:
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()


def markdown_table() -> str:
    """The role-by-permission table, as published in docs/permissions.md."""
    roles = list(Role)
    lines = ["| permission | " + " | ".join(r.value for r in roles) + " | what it allows |",
             "| --- | " + " | ".join(":---:" for _ in roles) + " | --- |"]
    for name, description in PERMISSIONS.items():
        marks = " | ".join("✓" if name in ROLE_PERMISSIONS[r] else "" for r in roles)
        lines.append(f"| `{name}` | {marks} | {description} |")
    return "\n".join(lines) + "\n"
