"""The operator's side of dead letters (``mercato events dead|replay``): every organization's
unless narrowed to one, through the same ``core.dead_letters`` calls as the API."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from mercato.core import dead_letters
from mercato.core.db import SYSTEM, Database
from mercato.core.errors import MercatoError, NotFound
from mercato.core.pagination import MAX_LIMIT, PageParams
from mercato.tenancy import get_by_slug, get_organization


def organization_id(db: Database, slug: str) -> str:
    """The id of the organization with this slug (NotFound when none has it)."""
    with db.session(write=False, tenant=SYSTEM) as session:
        org = get_by_slug(session, slug)
        if org is None:
            raise NotFound(f"No organization {slug!r}.")
        return org.id


def _slugs(db: Database, ids: set[str]) -> dict[str, str]:
    with db.session(write=False, tenant=SYSTEM) as session:
        return {org_id: get_organization(session, org_id).slug for org_id in ids}


def dead(db: Database, *, organization_id: str | None = None, handler: str | None = None,
         event_type: str | None = None) -> list[dict[str, Any]]:
    """Every dead letter (of one organization, handler, event type), newest first, each with
    its organization's slug."""
    found: list[dead_letters.DeadLetter] = []
    cursor: str | None = None
    with db.session(write=False, tenant=organization_id or SYSTEM) as session:
        while True:
            page = dead_letters.list_dead(session, PageParams(MAX_LIMIT, cursor),
                                          handler=handler, event_type=event_type,
                                          organization_id=organization_id)
            found += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
    slugs = _slugs(db, {letter.organization_id for letter in found})
    return [{**asdict(letter), "organization": slugs[letter.organization_id]}
            for letter in found]


@dataclass(frozen=True)
class Outcome:
    """What became of one id a replay was asked for."""

    id: int
    replayed: bool
    message: str


def replay_ids(db: Database, ids: list[int], *,
               organization_id: str | None = None) -> list[Outcome]:
    """Replay each id in a transaction of its own: an id that is not a dead letter (of the
    organization, when one is given) is reported, and leaves the others replayed."""
    outcomes = []
    for delivery_id in ids:
        try:
            with db.transaction(tenant=organization_id or SYSTEM) as session:
                letter = dead_letters.replay(session, delivery_id)
            outcomes.append(Outcome(delivery_id, True, f"replayed {delivery_id}: "
                                    f"{letter.event_type} {letter.resource_type}:"
                                    f"{letter.resource_id} to {letter.handler}"))
        except NotFound:
            outcomes.append(Outcome(delivery_id, False, f"no dead letter {delivery_id}"))
        except MercatoError as exc:
            outcomes.append(Outcome(delivery_id, False, f"{delivery_id}: {exc.detail}"))
    return outcomes


def replay_matching(db: Database, *, organization_id: str | None = None,
                    handler: str | None = None, event_type: str | None = None) -> list[int]:
    """Replay every dead letter that matches, in one transaction; the ids replayed."""
    with db.transaction(tenant=organization_id or SYSTEM) as session:
        return dead_letters.replay_all(session, handler=handler, event_type=event_type,
                                       organization_id=organization_id)


def as_line(letter: dict[str, Any]) -> str:
    """One dead letter as a line of ``mercato events dead``."""
    when = letter["dead_at"]
    error = (letter["last_error"] or "").splitlines()[0:1]
    return "  ".join([
        str(letter["id"]), letter["organization"], letter["handler"], letter["event_type"],
        f"{letter['resource_type']}:{letter['resource_id']}",
        f"attempts={letter['attempts']}",
        when.isoformat(timespec="seconds") if isinstance(when, dt.datetime) else "-",
        error[0][:120] if error else "",
    ])
