"""HTTP surface of the organization's dead-lettered event deliveries: list and replay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query

from mercato.core import dead_letters
from mercato.core.auth import require
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute
from mercato.events.schemas import DeadLetterOut, ReplayedOut, ReplayFilter

router = APIRouter(prefix="/api/v1/events", route_class=MercatoRoute, tags=["events"])
READ = require("events:read")
WRITE = require("events:write")
DeadLetterId = Annotated[int, Path(ge=1, le=2**63 - 1, description="A dead letter's `id`.")]


@router.get("/dead-letters", response_model=Page[DeadLetterOut],
            summary="Event deliveries that failed every attempt, newest first")
def list_dead_letters(
    *, params: PageParams = Depends(page_params),
    handler: str | None = Query(None, min_length=1, max_length=200,
                                description="Only this handler's (e.g. `nats-export`)."),
    type: str | None = Query(None, min_length=1, max_length=100,
                             description="Only this event type's (e.g. `order.paid`)."),
    _: Principal = Depends(READ), session: DbSession,
) -> Page[DeadLetterOut]:
    page = dead_letters.list_dead(session, params, handler=handler, event_type=type)
    return page.to_page(DeadLetterOut)


@router.post("/dead-letters/{dead_letter_id}/replay", response_model=DeadLetterOut,
             responses={409: {"description": "It is not dead (pending, or delivered)"}},
             summary="Put one dead letter back in line: pending, attempts reset, due now")
def replay_dead_letter(dead_letter_id: DeadLetterId, *, _: Principal = Depends(WRITE),
                       session: DbSession) -> DeadLetterOut:
    return DeadLetterOut.model_validate(dead_letters.replay(session, dead_letter_id))


@router.post("/dead-letters/replay", response_model=ReplayedOut,
             summary="Put every dead letter (of a handler, of an event type) back in line")
def replay_dead_letters(filters: Annotated[ReplayFilter | None, Body()] = None, *,
                        _: Principal = Depends(WRITE), session: DbSession) -> ReplayedOut:
    filters = filters or ReplayFilter()
    ids = dead_letters.replay_all(session, handler=filters.handler, event_type=filters.type)
    return ReplayedOut(replayed=len(ids), ids=ids)
