"""Roles map to named permissions; the published table is the code's table."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.identity.permissions import PERMISSIONS, ROLE_PERMISSIONS, Role, markdown_table
from tests.conftest import ROOT, Org, staff_token


def test_docs_publish_exactly_the_role_permission_table_in_code() -> None:
    doc = (ROOT / "docs" / "permissions.md").read_text()
    assert markdown_table() in doc


def test_owner_holds_every_permission_and_each_role_a_subset_of_manager() -> None:
    assert ROLE_PERMISSIONS[Role.OWNER] == frozenset(PERMISSIONS)
    for role in (Role.INVENTORY, Role.FULFILLMENT, Role.CASHIER):
        assert ROLE_PERMISSIONS[role] <= ROLE_PERMISSIONS[Role.MANAGER]


def test_me_reports_the_roles_permissions(client: TestClient, org: Org) -> None:
    for role in Role:
        if role is Role.OWNER:
            continue
        token = staff_token(client, org, role.value)
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["role"] == role.value
        assert set(me["permissions"]) == ROLE_PERMISSIONS[role]
