"""HTTP surface of outbound webhooks: endpoints, their secrets, deliveries and retries."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from mercato.core.auth import require
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute
from mercato.settings import Settings
from mercato.webhooks import service
from mercato.webhooks.models import WebhookDelivery, WebhookEndpoint
from mercato.webhooks.schemas import (
    AttemptOut,
    Breaker,
    DeliveryOut,
    DeliverySummary,
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
    Retried,
    RotateSecret,
    Status,
)

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["webhooks"])
READ = require("webhooks:read")
WRITE = require("webhooks:write")


def _settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


def endpoint_out(endpoint: WebhookEndpoint, settings: Settings) -> EndpointOut:
    return EndpointOut(
        id=endpoint.id, url=endpoint.url, description=endpoint.description,
        events=list(endpoint.events), enabled=endpoint.enabled,
        secret_last4=endpoint.secret_last4,
        previous_secret_last4=endpoint.previous_secret_last4
        if endpoint.previous_secret_sealed else None,
        previous_secret_expires_at=endpoint.previous_secret_expires_at
        if endpoint.previous_secret_sealed else None,
        breaker=Breaker(state=service.breaker_state(endpoint,
                                                    settings.webhook_breaker_threshold),
                        consecutive_failures=endpoint.consecutive_failures,
                        open_until=endpoint.open_until),
        created_at=endpoint.created_at, updated_at=endpoint.updated_at)


def delivery_summary(delivery: WebhookDelivery) -> DeliverySummary:
    out = DeliverySummary.model_validate(delivery)
    if delivery.status != "pending":
        out.next_attempt_at = None
    return out


def delivery_out(session: Session, delivery: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        **delivery_summary(delivery).model_dump(), body=delivery.body,
        attempts_log=[AttemptOut.model_validate(a)
                      for a in service.attempts_of(session, delivery.id)])


@router.post("/webhook-endpoints", response_model=EndpointCreated,
             status_code=status.HTTP_201_CREATED,
             summary="Add a webhook endpoint; its secret is in this response only")
def create_endpoint(body: EndpointCreate, request: Request, *,
                    _: Principal = Depends(WRITE), session: DbSession) -> EndpointCreated:
    settings = _settings(request)
    endpoint, secret = service.create_endpoint(
        session, url=body.url, events=body.events, secret=body.secret,
        description=body.description, enabled=body.enabled,
        allow_hosts=settings.webhook_allow_hosts, settings=settings)
    return EndpointCreated(**endpoint_out(endpoint, settings).model_dump(), secret=secret)


@router.get("/webhook-endpoints", response_model=Page[EndpointOut],
            summary="The organization's webhook endpoints, oldest first")
def list_endpoints(request: Request, *, params: PageParams = Depends(page_params),
                   _: Principal = Depends(READ), session: DbSession) -> Page[EndpointOut]:
    settings = _settings(request)
    return service.list_endpoints(session, params).to_page(
        EndpointOut, lambda e: endpoint_out(e, settings).model_dump())


@router.get("/webhook-endpoints/{webhook_endpoint_id}", response_model=EndpointOut)
def get_endpoint(webhook_endpoint_id: str, request: Request, *,
                 _: Principal = Depends(READ), session: DbSession) -> EndpointOut:
    return endpoint_out(service.get_endpoint(session, webhook_endpoint_id),
                        _settings(request))


@router.patch("/webhook-endpoints/{webhook_endpoint_id}", response_model=EndpointOut,
              summary="Change an endpoint's URL, events, description, or pause it")
def update_endpoint(webhook_endpoint_id: str, body: EndpointUpdate, request: Request, *,
                    _: Principal = Depends(WRITE), session: DbSession) -> EndpointOut:
    settings = _settings(request)
    endpoint = service.update_endpoint(session, webhook_endpoint_id,
                                       body.model_dump(exclude_unset=True),
                                       allow_hosts=settings.webhook_allow_hosts)
    return endpoint_out(endpoint, settings)


@router.delete("/webhook-endpoints/{webhook_endpoint_id}",
               status_code=status.HTTP_204_NO_CONTENT,
               summary="Remove an endpoint, with its deliveries and their log")
def delete_endpoint(webhook_endpoint_id: str, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> Response:
    service.delete_endpoint(session, webhook_endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/webhook-endpoints/{webhook_endpoint_id}/rotate-secret",
             response_model=EndpointCreated,
             summary="A new signing secret (in this response only); the old one keeps "
                     "signing for the grace period")
def rotate_secret(webhook_endpoint_id: str, body: RotateSecret, request: Request, *,
                  _: Principal = Depends(WRITE), session: DbSession) -> EndpointCreated:
    settings = _settings(request)
    endpoint, secret = service.rotate_secret(session, webhook_endpoint_id,
                                             grace_seconds=body.grace_seconds,
                                             secret=body.secret, settings=settings)
    return EndpointCreated(**endpoint_out(endpoint, settings).model_dump(), secret=secret)


@router.get("/webhook-endpoints/{webhook_endpoint_id}/deliveries",
            response_model=Page[DeliverySummary],
            summary="An endpoint's deliveries, newest first")
def list_deliveries(webhook_endpoint_id: str, *, params: PageParams = Depends(page_params),
                    status_filter: Status | None = Query(None, alias="status"),
                    event_type: str | None = Query(None, max_length=100),
                    _: Principal = Depends(READ), session: DbSession) -> Page[DeliverySummary]:
    return service.list_deliveries(session, webhook_endpoint_id, params,
                                   status=status_filter, event_type=event_type).to_page(
        DeliverySummary, lambda d: delivery_summary(d).model_dump())


@router.post("/webhook-endpoints/{webhook_endpoint_id}/deliveries/retry",
             response_model=Retried, summary="Queue every dead delivery of the endpoint again")
def retry_dead(webhook_endpoint_id: str, *, _: Principal = Depends(WRITE),
               session: DbSession) -> Retried:
    return Retried(retried=service.retry_dead(session, webhook_endpoint_id))


@router.get("/webhook-endpoints/{webhook_endpoint_id}/deliveries/{webhook_delivery_id}",
            response_model=DeliveryOut, summary="One delivery with every attempt")
def get_delivery(webhook_endpoint_id: str, webhook_delivery_id: str, *,
                 _: Principal = Depends(READ), session: DbSession) -> DeliveryOut:
    return delivery_out(session, service.get_delivery(session, webhook_endpoint_id,
                                                      webhook_delivery_id))


@router.post("/webhook-endpoints/{webhook_endpoint_id}/deliveries/{webhook_delivery_id}/retry",
             response_model=DeliveryOut,
             responses={409: {"description": "Delivered, or waiting to be sent, already"}},
             summary="Send a dead or failing delivery again now")
def retry_delivery(webhook_endpoint_id: str, webhook_delivery_id: str, *,
                   _: Principal = Depends(WRITE), session: DbSession) -> DeliveryOut:
    delivery = service.retry_delivery(session, webhook_endpoint_id, webhook_delivery_id)
    return delivery_out(session, delivery)
