"""HTTP surface of orders, a customer's order history among them (customers' own routes are
identity's, ``identity.customers.api``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from mercato.core.auth import require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import get_customer
from mercato.orders import service
from mercato.orders.models import Order
from mercato.orders.schemas import (
    CancelIn,
    FinancialStatus,
    Flag,
    FulfillmentIn,
    FulfillmentStatus,
    OrderIn,
    OrderOut,
    OrderSummary,
    OrderUpdate,
    PaymentIn,
    ReceiveIn,
    RefundIn,
    ReturnIn,
    Status,
)

router = APIRouter(prefix="/api/v1", route_class=MercatoRoute, tags=["orders"])
READ, WRITE = require("orders:read"), require("orders:write")
FULFIL = require("fulfillment:write")
REFUSED: dict[int | str, dict[str, Any]] = {409: {"description": (
    "The order's state does not allow it (`conflict`, with `machine`, `from` and `to`), or "
    "more units or money than the order has left (`conflict`, naming the lines)")}}


def order_out(response: Response, order: Order) -> OrderOut:
    set_etag(response, order)
    return OrderOut.model_validate(order)


class OrderFilters:
    def __init__(
        self,
        status: Status | None = Query(None),
        financial_status: FinancialStatus | None = Query(None),
        fulfillment_status: FulfillmentStatus | None = Query(None),
        channel: str | None = Query(None, max_length=50,
                                    description="A channel id or a source (`shopify`, `web`)."),
        customer: str | None = Query(None, max_length=26, description="A customer id."),
        created_after: dt.datetime | None = Query(None),
        created_before: dt.datetime | None = Query(None),
        flag: Flag | None = Query(None, description="`oversold`: the resolution queue."),
        sku: str | None = Query(None, max_length=100, description="Has a line of this SKU."),
        q: str | None = Query(None, max_length=200,
                              description="Order number, email or customer name."),
    ) -> None:
        self.values = {"status": status, "financial_status": financial_status,
                       "fulfillment_status": fulfillment_status, "channel": channel,
                       "customer": customer, "created_after": created_after,
                       "created_before": created_before, "flag": flag, "sku": sku, "q": q}


# -- orders -------------------------------------------------------------------------------------

@router.post("/orders", response_model=OrderOut, status_code=status.HTTP_201_CREATED,
             responses={200: {"model": OrderOut, "description": (
                 "This (channel, external_id) was ingested before: the same order, no new "
                 "stock movement")}},
             summary="Create or ingest an order (idempotent by channel and external id)")
def create_order(body: OrderIn, response: Response, *, principal: Principal = Depends(WRITE),
                 session: DbSession) -> OrderOut:
    order, created = service.ingest(session, principal.organization_id, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return order_out(response, order)


@router.get("/orders", response_model=Page[OrderSummary], summary="Search orders, newest first")
def list_orders(*, filters: OrderFilters = Depends(), params: PageParams = Depends(page_params),
                _: Principal = Depends(READ),
                session: DbSession) -> Page[OrderSummary]:
    return service.list_orders(session, params, **filters.values).to_page(OrderSummary)


@router.get("/exports/orders.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}},
            summary="Orders the filters select as CSV, one row per line")
def export_orders(request: Request, filters: OrderFilters = Depends(),
                  principal: Principal = Depends(READ)) -> StreamingResponse:
    db = request.app.state.db

    def rows() -> Iterator[bytes]:
        with db.session(write=False, tenant=principal.organization_id) as export_session:
            for chunk in service.export_csv(export_session, filters.values):
                yield chunk.encode()

    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="orders.csv"'})


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: str, response: Response, *, _: Principal = Depends(READ),
              session: DbSession) -> OrderOut:
    return order_out(response, service.get_order(session, order_id))


@router.patch("/orders/{order_id}", response_model=OrderOut,
              summary="Edit note, tags, addresses or email (If-Match supported)")
def update_order(order_id: str, body: OrderUpdate, request: Request, response: Response,
                 *, _: Principal = Depends(WRITE),
                 session: DbSession) -> OrderOut:
    order = service.get_order(session, order_id, lock=True)
    check_if_match(request, order)
    return order_out(response, service.update_order(session, order, body))


@router.post("/orders/{order_id}/fulfillments", response_model=OrderOut,
             status_code=status.HTTP_201_CREATED, responses=REFUSED,
             summary="Ship units (partial fulfillment), with carrier and tracking")
def fulfill(order_id: str, body: FulfillmentIn, response: Response,
            *, _: Principal = Depends(FULFIL), session: DbSession) -> OrderOut:
    return order_out(response, service.fulfill(session, order_id, body))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, responses=REFUSED,
             summary="Cancel the order, or some unshipped units; restocks what was taken")
def cancel(order_id: str, response: Response, *, body: CancelIn | None = None,
           _: Principal = Depends(WRITE), session: DbSession) -> OrderOut:
    return order_out(response, service.cancel(session, order_id, body or CancelIn()))


@router.post("/orders/{order_id}/allocate", response_model=OrderOut, responses=REFUSED,
             summary="Take stock again for oversold (short) units")
def allocate(order_id: str, response: Response, *, _: Principal = Depends(WRITE),
             session: DbSession) -> OrderOut:
    return order_out(response, service.allocate(session, order_id))


@router.post("/orders/{order_id}/close", response_model=OrderOut, responses=REFUSED)
def close(order_id: str, response: Response, *, _: Principal = Depends(WRITE),
          session: DbSession) -> OrderOut:
    return order_out(response, service.set_status(session, order_id, "closed"))


@router.post("/orders/{order_id}/reopen", response_model=OrderOut, responses=REFUSED)
def reopen(order_id: str, response: Response, *, _: Principal = Depends(WRITE),
           session: DbSession) -> OrderOut:
    return order_out(response, service.set_status(session, order_id, "open"))


@router.post("/orders/{order_id}/payments", response_model=OrderOut,
             status_code=status.HTTP_201_CREATED, responses=REFUSED,
             summary="Record money taken or authorized")
def add_payment(order_id: str, body: PaymentIn, response: Response,
                *, _: Principal = Depends(WRITE),
                session: DbSession) -> OrderOut:
    return order_out(response, service.add_payment(session, order_id, body))


@router.post("/orders/{order_id}/payments/{payment_id}/capture", response_model=OrderOut,
             responses=REFUSED)
def capture(order_id: str, payment_id: str, response: Response, *, _: Principal = Depends(WRITE),
            session: DbSession) -> OrderOut:
    return order_out(response, service.settle_payment(session, order_id, payment_id, "paid"))


@router.post("/orders/{order_id}/payments/{payment_id}/void", response_model=OrderOut,
             responses=REFUSED)
def void(order_id: str, payment_id: str, response: Response, *, _: Principal = Depends(WRITE),
         session: DbSession) -> OrderOut:
    return order_out(response, service.settle_payment(session, order_id, payment_id, "voided"))


@router.post("/orders/{order_id}/refunds", response_model=OrderOut,
             status_code=status.HTTP_201_CREATED, responses=REFUSED,
             summary="Refund by amount or by lines, never more than was paid")
def refund(order_id: str, body: RefundIn, response: Response, *, _: Principal = Depends(WRITE),
           session: DbSession) -> OrderOut:
    return order_out(response, service.refund(session, order_id, body))


@router.post("/orders/{order_id}/returns", response_model=OrderOut,
             status_code=status.HTTP_201_CREATED, responses=REFUSED,
             summary="Return shipped units (RMA), restocking them or not; optional exchange")
def create_return(order_id: str, body: ReturnIn, response: Response,
                  *, principal: Principal = Depends(FULFIL),
                  session: DbSession) -> OrderOut:
    return order_out(response, service.create_return(session, principal.organization_id,
                                                     order_id, body))


@router.post("/orders/{order_id}/returns/{return_id}/receive", response_model=OrderOut,
             responses=REFUSED, summary="The returned goods arrived: restock them")
def receive_return(order_id: str, return_id: str, response: Response,
                   *, body: ReceiveIn | None = None, _: Principal = Depends(FULFIL),
                   session: DbSession) -> OrderOut:
    return order_out(response, service.receive_return(session, order_id, return_id,
                                                      body.location if body else None))


# -- a customer's orders (customers are identity's: identity.customers.api) -------------------

@router.get("/customers/{customer_id}/orders", response_model=Page[OrderSummary],
            tags=["customers"], summary="The customer's order history, newest first")
def customer_orders(customer_id: str, *, params: PageParams = Depends(page_params),
                    _: Principal = Depends(READ),
                    session: DbSession) -> Page[OrderSummary]:
    get_customer(session, customer_id)  # 404 for an unknown customer
    return service.list_orders(session, params, customer=customer_id).to_page(OrderSummary)


from mercato.orders import api_store  # noqa: E402 - after this module's router

store_router: APIRouter = api_store.store_router
"""The shopper's order history, mounted by ``app.create_app`` like every ``store_router``."""
