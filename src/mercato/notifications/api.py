"""HTTP surface of the notifications record: what was emailed to whom, and resending."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from mercato.core.auth import require
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute
from mercato.notifications import service
from mercato.notifications.models import Notification
from mercato.notifications.schemas import Kind, NotificationOut, NotificationSummary, Status

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["notifications"])
READ = require("notifications:read")
RESEND = require("orders:write")


def notification_out(notification: Notification) -> NotificationOut:
    """Metadata always; the bodies only when they hold no secret."""
    secret = notification.kind in service.SECRET_KINDS
    values = NotificationSummary.model_validate(notification).model_dump()
    return NotificationOut(**{
        **values,
        "next_attempt_at": values["next_attempt_at"] if notification.status == "pending"
        else None,
        "body_text": None if secret else notification.body_text,
        "body_html": None if secret else notification.body_html})


@router.get("/notifications", response_model=Page[NotificationSummary],
            summary="Emails sent to customers, newest first")
def list_notifications(
    *, params: PageParams = Depends(page_params),
    kind: Kind | None = Query(None),
    status: Status | None = Query(None),
    recipient: str | None = Query(None, max_length=320, description="An email address."),
    reference: str | None = Query(None, max_length=200, description="e.g. `order:<id>`."),
    _: Principal = Depends(READ), session: DbSession,
) -> Page[NotificationSummary]:
    page = service.list_notifications(session, params, kind=kind, status=status,
                                      recipient=recipient, reference=reference)
    return page.to_page(NotificationSummary, lambda n: notification_out(n).model_dump())


@router.get("/notifications/{notification_id}", response_model=NotificationOut,
            summary="One email, with its text and HTML parts (metadata only for "
                    "password resets)")
def get_notification(notification_id: str, *, _: Principal = Depends(READ),
                     session: DbSession) -> NotificationOut:
    return notification_out(service.get_notification(session, notification_id))


@router.post("/notifications/{notification_id}/resend", response_model=NotificationOut,
             responses={409: {"description": "It is waiting to be sent already"}},
             summary="Send a recorded email again on the worker's next pass")
def resend(notification_id: str, *, _: Principal = Depends(RESEND),
           session: DbSession) -> NotificationOut:
    return notification_out(service.resend(session, notification_id))
