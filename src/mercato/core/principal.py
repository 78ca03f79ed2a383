"""Who is acting: the principal a request, a worker or a test acts as (plain Python).

The web side that resolves it from a request (``get_principal``, ``require``) is
``mercato.core.auth``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Principal:
    """An authenticated caller inside exactly one organization."""

    kind: Literal["staff", "api_key"]
    id: str
    organization_id: str
    label: str
    permissions: frozenset[str] = field(default_factory=frozenset)
    role: str | None = None
    owner_id: str | None = None
    """An API key's owner: the staff member whose current permissions bound the key's."""

    def can(self, permission: str) -> bool:
        return permission in self.permissions
