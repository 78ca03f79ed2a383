"""Connections, mappings and sync jobs under ``/api/v1/channels/{id}``; Shopify's webhooks at
``/webhooks/shopify/{store}``, eBay's notifications at ``/webhooks/ebay/{store}``, and the other
platforms' at ``/webhooks/{kind}/{store}`` (each verified by its connector)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato.channels import jobs, registry, service
from mercato.channels.ebay import inbound as ebay_inbound
from mercato.channels.models import Connection, SyncJob
from mercato.channels.schemas import (
    PER_ITEM,
    ConnectionIn,
    ConnectionOut,
    ItemErrorOut,
    JobIn,
    JobOut,
    MappingOut,
    MappingsIn,
    MarketPriceOut,
    WebhookAck,
)
from mercato.channels.service import SignatureRefused
from mercato.channels.shopify import inbound as shopify_inbound
from mercato.channels.tcgplayer import orders_csv
from mercato.core import inbound
from mercato.core.auth import require
from mercato.core.errors import NotFound
from mercato.core.principal import Principal
from mercato.core.uow import DbSession, MercatoRoute, inbound_delivery, uow_of
from mercato.tenancy import Store
from mercato.tenancy.deps import current_store

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["channels"])
store_router = APIRouter(route_class=MercatoRoute, tags=["webhooks"])
READ, WRITE = require("channels:read"), require("channels:write")
ORDERS_WRITE = require("orders:write")


def _job_out(session: Session, job: SyncJob, *, errors: bool = False) -> JobOut:
    out = JobOut.model_validate(job)
    if errors:
        out.errors = [ItemErrorOut.model_validate(e) for e in jobs.job_errors(session, job.id)]
    return out


@router.put("/channels/{channel_id}/connection", response_model=ConnectionOut,
            summary="Connect the channel to its platform account (or change the connection)")
def put_connection(channel_id: str, body: ConnectionIn, request: Request, response: Response,
                   *, _: Principal = Depends(WRITE),
                   session: DbSession) -> ConnectionOut:
    existing = session.scalar(select(Connection).where(Connection.channel_id == channel_id))
    before = existing.settings.get("webhook_url") if existing is not None else None
    connection, created = service.connect(session, channel_id, body, request.app.state.settings)
    jobs.subscribe_if_changed(session, connection, before)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return service.connection_out(session, connection)


@router.get("/channels/{channel_id}/connection", response_model=ConnectionOut,
            summary="The connection, its settings and health (secrets never shown)")
def get_connection(channel_id: str, *, _: Principal = Depends(READ),
                   session: DbSession) -> ConnectionOut:
    return service.connection_out(session, service.get_connection(session, channel_id))


@router.delete("/channels/{channel_id}/connection", status_code=status.HTTP_204_NO_CONTENT,
               summary="Disconnect: credentials, mappings and job history are deleted")
def delete_connection(channel_id: str, *, _: Principal = Depends(WRITE),
                      session: DbSession) -> Response:
    service.disconnect(session, channel_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/channels/{channel_id}/mappings", response_model=list[MappingOut],
            summary="Map SKUs and locations to the platform's ids")
def put_mappings(channel_id: str, body: MappingsIn, *, _: Principal = Depends(WRITE),
                 session: DbSession) -> list[MappingOut]:
    connection = service.get_connection(session, channel_id)
    service.put_mappings(session, connection, body.mappings)
    out: list[MappingOut] = []
    for resource in sorted({m.resource for m in body.mappings}):
        out.extend(service.list_mappings(session, connection, resource=resource))
    return out


@router.get("/channels/{channel_id}/mappings", response_model=list[MappingOut],
            summary="Mappings, with each variant's push state")
def get_mappings(channel_id: str,
                 *, resource: Literal["variant", "location", "product", "order",
                                      "refund"] = "variant",
                 sku: str | None = Query(default=None, max_length=100),
                 limit: int = Query(default=500, ge=1, le=5000),
                 _: Principal = Depends(READ),
                 session: DbSession) -> list[MappingOut]:
    connection = service.get_connection(session, channel_id)
    return service.list_mappings(session, connection, resource=resource, sku=sku, limit=limit)


@router.get("/channels/{channel_id}/market-prices", response_model=list[MarketPriceOut],
            summary="The platform's market prices of linked variants (TCGplayer's price_pull)",
            description="The latest low, market and direct low of each linked variant, as "
                        "the last `price_pull` recorded them; with `sku`, that variant's "
                        "history, newest first. 404 for a SKU not linked on this channel.")
def get_market_prices(channel_id: str, *, sku: str | None = Query(default=None, max_length=100),
                      limit: int = Query(default=500, ge=1, le=5000),
                      _: Principal = Depends(READ),
                      session: DbSession) -> list[MarketPriceOut]:
    connection = service.get_connection(session, channel_id)
    return service.market_prices(session, connection, sku=sku, limit=limit)


@router.post("/channels/{channel_id}/sync-jobs", response_model=JobOut,
             status_code=status.HTTP_202_ACCEPTED,
             responses={409: {"description": "`job_in_progress`: one of that kind is queued "
                                             "or running"}},
             summary="Queue a sync job")
def start_job(channel_id: str, body: JobIn, *, principal: Principal = Depends(WRITE),
              session: DbSession) -> JobOut:
    connection = service.get_connection(session, channel_id)
    registry.supports(connection.kind, body.kind)
    job = jobs.create_job(session, connection, body.kind, params=body.params,
                          created_by=principal.id, exclusive=body.kind not in PER_ITEM)
    return _job_out(session, job)


@router.get("/channels/{channel_id}/sync-jobs", response_model=list[JobOut],
            summary="The connection's job history, newest first")
def list_jobs(channel_id: str, *, kind: str | None = Query(default=None, max_length=30),
              status_: str | None = Query(default=None, alias="status", max_length=16),
              limit: int = Query(default=50, ge=1, le=500), _: Principal = Depends(READ),
              session: DbSession) -> list[JobOut]:
    connection = service.get_connection(session, channel_id)
    return [_job_out(session, job) for job in jobs.history(session, connection.id, kind=kind,
                                                           status=status_, limit=limit)]


@router.post("/channels/{channel_id}/orders/import", response_model=orders_csv.OrdersImportOut,
             summary="Import TCGplayer's order export (CSV) as orders of this channel "
                     "(kind tcgplayer); deduped by order number")
def import_channel_orders(
    channel_id: str, request: Request,
    file: UploadFile | None = File(None, description="TCGplayer's order CSV; see "
                                   "docs/channels.md."),
    *, principal: Principal = Depends(ORDERS_WRITE), session: DbSession,
) -> orders_csv.OrdersImportOut:
    orders_csv.tcgplayer_channel(session, channel_id)  # 404 / 422 before the file is read
    if file is None:
        raise orders_csv.OrdersCsvError("Send the order CSV as the multipart field file.")
    limit = request.app.state.settings.max_upload_bytes
    content = file.file.read(limit + 1)
    if len(content) > limit:
        raise orders_csv.OrdersCsvError(f"The file is larger than {limit} bytes "
                                        "(MERCATO_MAX_UPLOAD_BYTES); split it.")
    return orders_csv.import_orders(session, principal.organization_id, channel_id, content)


@router.get("/sync-jobs/{job_id}", response_model=JobOut,
            summary="A job's progress, outcome and the items it could not sync")
def get_job(job_id: str, *, _: Principal = Depends(READ),
            session: DbSession) -> JobOut:
    return _job_out(session, jobs.get_job(session, job_id), errors=True)


@router.post("/sync-jobs/{job_id}/cancel", response_model=JobOut,
             summary="Cancel a job (a running one stops after the page in hand)")
def cancel_job(job_id: str, *, _: Principal = Depends(WRITE),
               session: DbSession) -> JobOut:
    return _job_out(session, jobs.cancel_job(session, jobs.get_job(session, job_id)))


@router.post("/sync-jobs/{job_id}/retry", response_model=JobOut,
             status_code=status.HTTP_202_ACCEPTED,
             summary="Run a failed or cancelled job again, as a new job")
def retry_job(job_id: str, *, principal: Principal = Depends(WRITE),
              session: DbSession) -> JobOut:
    job = jobs.retry_job(session, jobs.get_job(session, job_id), principal.id)
    return _job_out(session, job)


# -- inbound webhooks ---------------------------------------------------------------------------

def _receive(request: Request, session: Session, spec: inbound.Provider,
             delivery: inbound.Delivery) -> inbound.Receipt:
    """The shared framework's ``receive``; a signature refused is counted in the connection's
    health in a transaction of its own, once the request's own (which rolls back) has
    closed."""
    try:
        return inbound.receive(session, spec, delivery)
    except SignatureRefused as refused:
        uow, db = uow_of(request), request.app.state.db
        organization_id, connection_id = refused.organization_id, refused.connection_id
        health = refused.health
        uow.after_close(lambda: service.record_signature_failure(db, organization_id,
                                                                 connection_id, health))
        raise


def _ack(receipt: inbound.Receipt) -> WebhookAck:
    """A channel's answer: ``processed`` when the event was taken and its topic is one
    Mercato acts on (the worker does it: ``message`` is ``queued``)."""
    if receipt.unusable is not None:
        return WebhookAck(received=True, duplicate=False, topic=receipt.event_type,
                          processed=False, message=receipt.unusable)
    if receipt.duplicate:
        return WebhookAck(received=True, duplicate=True, topic=receipt.event_type,
                          processed=False)
    malformed = receipt.context.get("malformed")
    handled = receipt.queued and bool(receipt.context.get("handled")) and not malformed
    return WebhookAck(received=True, duplicate=False, topic=receipt.event_type,
                      processed=handled, message="queued" if handled
                      else str(malformed or "topic not handled"))


@store_router.post(
    "/webhooks/shopify/{store}", response_model=WebhookAck,
    responses={401: {"description": "Unknown shop, or a missing or bad X-Shopify-Hmac-Sha256 "
                                    "(counted in the connection's health)"}},
    summary="Shopify webhooks for a store: verified, processed once each")
def shopify_webhook(request: Request, *, _store: Store = Depends(current_store),
                    delivery: inbound.Delivery = Depends(inbound_delivery),
                    session: DbSession) -> WebhookAck:
    return _ack(_receive(request, session, shopify_inbound.PROVIDER, delivery))


@store_router.get(
    "/webhooks/ebay/{store}",
    responses={404: {"description": "The store has no eBay connection with a "
                                    "verification token"}},
    summary="eBay's endpoint challenge: SHA-256 of challenge code, verification token and "
            "endpoint URL")
def ebay_challenge(request: Request, *, challenge_code: str = Query(min_length=1,
                                                                    max_length=200),
                   store: Store = Depends(current_store),
                   session: DbSession) -> dict[str, str]:
    return ebay_inbound.challenge(session, request.app.state.settings, store.slug,
                                  str(request.url.remove_query_params("challenge_code")),
                                  challenge_code)


@store_router.post(
    "/webhooks/ebay/{store}", response_model=WebhookAck,
    responses={401: {"description": "A missing or bad X-EBAY-SIGNATURE (counted in the "
                                    "connection's health)"}},
    summary="eBay notifications (marketplace account deletion): verified, recorded once "
            "each, processed by the worker")
def ebay_notification(request: Request, *, _store: Store = Depends(current_store),
                      delivery: inbound.Delivery = Depends(inbound_delivery),
                      session: DbSession) -> WebhookAck:
    delivery = replace(delivery, url=str(request.url.remove_query_params("challenge_code")))
    return _ack(_receive(request, session, ebay_inbound.PROVIDER, delivery))


def _platform_webhook(kind: str) -> Callable[..., WebhookAck | Response]:
    """The route of one kind in ``registry.INBOUND_KINDS``: its connector's provider checks
    the platform's own signature over the raw body. Shopee is answered with an empty 200
    (it asks for an empty body)."""

    def receive(request: Request, *, _store: Store = Depends(current_store),
                delivery: inbound.Delivery = Depends(inbound_delivery),
                session: DbSession) -> WebhookAck | Response:
        spec = registry.inbound_for(kind)
        if spec is None:
            raise NotFound(f"{registry.TITLES[kind]} webhooks are not received by this build.")
        ack = _ack(_receive(request, session, spec, delivery))
        if kind == "shopee":
            return Response(status_code=status.HTTP_200_OK)
        return ack
    return receive


_EMPTY_200: dict[int | str, dict[str, Any]] = {
    200: {"description": "Received: an empty body, as Shopee requires"}}
for _kind, _scheme in (("shopee", "an `Authorization` that is not the hex HMAC-SHA256 of "
                                  "`<callback URL>|<raw body>` keyed with the partner key"),
                       ("tiktok", "an `Authorization` that is not the hex HMAC-SHA256 of "
                                  "`app_key + raw body` keyed with the app secret")):
    _empty = _kind == "shopee"
    store_router.post(
        f"/webhooks/{_kind}/{{store}}", response_model=None if _empty else WebhookAck,
        response_class=Response if _empty else JSONResponse,
        name=f"{_kind}_webhook",
        responses={**(_EMPTY_200 if _empty else {}),
                   401: {"description": f"A missing or bad signature ({_scheme}); counted in "
                                        "the connection's health"},
                   404: {"description": f"The store has no {registry.TITLES[_kind]} "
                                        "connection"}},
        summary=f"{registry.TITLES[_kind]} notifications: verified, processed once each")(
            _platform_webhook(_kind))
