"""Every request's check of its organization: suspended (423) or over its plan's API calls per
minute (429). Plain Python, held by the app (``app.state.org_gate``).

An organization's status and limits are read once and kept ``ttl`` seconds, so the check costs
no query on most requests; this process forgets them at once when the operator changes them
(``forget``), other server processes within ``ttl``. Issuing a token never relies on the cache
(``platform.require_active`` reads the row in the transaction).

API calls are counted per process in fixed one-minute windows: with ``--workers N`` an
organization may make up to N times its limit; the limit protects the platform, it is not
billing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from mercato.core.db import Database
from mercato.core.errors import OrganizationSuspended, RateLimited
from mercato.tenancy.models import Organization
from mercato.tenancy.platform import SUSPENDED

CACHE_SECONDS = 5.0
WINDOW_SECONDS = 60


@dataclass(frozen=True)
class OrgState:
    suspended: bool
    limits: dict[str, Any] = field(default_factory=dict)


class OrganizationGate:
    def __init__(self, db: Database, ttl_seconds: float = CACHE_SECONDS,
                 clock: Any = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self._clock = clock
        self._states: dict[str, tuple[float, OrgState | None]] = {}
        self._calls: dict[str, tuple[int, int]] = {}
        """organization -> (window number, calls counted in it)."""
        self._lock = threading.Lock()

    def cached(self, organization_id: str) -> tuple[bool, OrgState | None]:
        hit = self._states.get(organization_id)
        if hit is not None and self._clock() - hit[0] < self.ttl:
            return True, hit[1]
        return False, None

    def lookup(self, organization_id: str) -> OrgState | None:
        now = self._clock()
        with self.db.session(write=False) as session:
            row = session.execute(select(Organization.status, Organization.limits)
                                  .where(Organization.id == organization_id)).first()
        state = OrgState(row[0] == SUSPENDED, dict(row[1] or {})) if row else None
        if len(self._states) > 10_000:
            self._states.clear()
        self._states[organization_id] = (now, state)
        return state

    def forget(self, organization_id: str | None = None) -> None:
        if organization_id is None:
            self._states.clear()
        else:
            self._states.pop(organization_id, None)

    def state(self, organization_id: str) -> OrgState | None:
        known, state = self.cached(organization_id)
        return state if known else self.lookup(organization_id)

    def check(self, state: OrgState | None, organization_id: str, *,
              count_call: bool = False) -> None:
        """423 when suspended; with ``count_call``, one API call counted against the plan's
        ``api_calls_per_minute`` (429 with Retry-After past it)."""
        if state is None:
            return
        if state.suspended:
            raise OrganizationSuspended()
        limit = state.limits.get("api_calls_per_minute")
        if not count_call or limit is None:
            return
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        with self._lock:
            current, calls = self._calls.get(organization_id, (window, 0))
            if current != window:
                calls = 0
            if calls >= limit:
                retry = int((window + 1) * WINDOW_SECONDS - now) + 1
                raise RateLimited(
                    f"The organization's plan allows {limit} API calls per minute; try "
                    "again later.", retry_after=retry)
            self._calls[organization_id] = (window, calls + 1)
