"""HTTP surface of purchase orders and valuation (mounted by ``inventory.api``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mercato.core.auth import require
from mercato.core.etag import set_etag
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import CSV_FORMAT, CSV_RESPONSES, csv_response, page_params, wants_csv
from mercato.core.uow import DbSession, MercatoRoute
from mercato.inventory.models import PurchaseOrder
from mercato.inventory.purchasing import service as purchasing
from mercato.inventory.purchasing.schemas import (
    PurchaseOrderCreate,
    PurchaseOrderLineOut,
    PurchaseOrderOut,
    PurchaseOrderStatus,
    ReceiveIn,
    ValuationOut,
    ValuationRow,
    ValuationTotal,
)

router = APIRouter(route_class=MercatoRoute, tags=["inventory"])  # under inventory.api's /api/v1
READ, WRITE = require("inventory:read"), require("inventory:write")
REPORTS = require("reports:read")
STATE: dict[int | str, dict[str, Any]] = {409: {"description": (
    "The order is cancelled or received in full (`conflict`)")}}


def order_out(order: PurchaseOrder) -> PurchaseOrderOut:
    lines = [PurchaseOrderLineOut(id=line.id, sku=line.sku, variant_id=line.variant_id,
                                  quantity=line.quantity, received=line.received,
                                  outstanding=line.quantity - line.received,
                                  unit_cost=line.unit_cost) for line in order.lines]
    return PurchaseOrderOut(
        id=order.id, supplier=order.supplier, currency=order.currency,
        status=order.status,
        note=order.note, lines=lines,
        ordered_units=sum(line.quantity for line in lines),
        received_units=sum(line.received for line in lines),
        ordered_value=sum((line.quantity * line.unit_cost for line in lines), Decimal("0.00")),
        received_value=sum((line.received * line.unit_cost for line in lines), Decimal("0.00")),
        created_at=order.created_at, updated_at=order.updated_at)


@router.post("/purchase-orders", response_model=PurchaseOrderOut,
             status_code=status.HTTP_201_CREATED, summary="Order stock from a supplier")
def create_purchase_order(body: PurchaseOrderCreate, response: Response,
                          *, _: Principal = Depends(WRITE),
                          session: DbSession) -> PurchaseOrderOut:
    order = purchasing.create(session, body)
    set_etag(response, order)
    return order_out(order)


@router.get("/purchase-orders", response_model=Page[PurchaseOrderOut],
            summary="Purchase orders, newest first")
def list_purchase_orders(*, status_: PurchaseOrderStatus | None = Query(None, alias="status"),
                         supplier: str | None = Query(None, max_length=200),
                         params: PageParams = Depends(page_params),
                         _: Principal = Depends(READ),
                         session: DbSession) -> Page[PurchaseOrderOut]:
    return purchasing.list_orders(session, params, status=status_, supplier=supplier) \
        .to_page(PurchaseOrderOut, order_out)


@router.get("/purchase-orders/{purchase_order_id}", response_model=PurchaseOrderOut)
def get_purchase_order(purchase_order_id: str, response: Response,
                       *, _: Principal = Depends(READ),
                       session: DbSession) -> PurchaseOrderOut:
    order = purchasing.get(session, purchase_order_id)
    set_etag(response, order)
    return order_out(order)


@router.post("/purchase-orders/{purchase_order_id}/receive", response_model=PurchaseOrderOut,
             responses=STATE,
             summary="Receive some or all outstanding units into a location (ledger reason "
                     "restock); updates the variants' moving-average cost")
def receive_purchase_order(purchase_order_id: str, body: ReceiveIn, response: Response,
                           *, _: Principal = Depends(WRITE),
                           session: DbSession) -> PurchaseOrderOut:
    order = purchasing.receive(session, purchase_order_id, body)
    set_etag(response, order)
    return order_out(order)


@router.post("/purchase-orders/{purchase_order_id}/cancel", response_model=PurchaseOrderOut,
             responses=STATE, summary="Cancel the order; what was received stays")
def cancel_purchase_order(purchase_order_id: str, response: Response,
                          *, _: Principal = Depends(WRITE),
                          session: DbSession) -> PurchaseOrderOut:
    order = purchasing.cancel(session, purchase_order_id)
    set_etag(response, order)
    return order_out(order)


@router.get("/inventory/valuation", response_model=ValuationOut, responses=CSV_RESPONSES,
            summary="Units on hand times variant cost, per location",
            description="A report: needs `reports:read` (owner, manager, inventory). As CSV with "
            "`Accept: text/csv` or `format=csv`: one line per location (and currency), then one "
            "per currency's total (`location_id` empty, `code` `TOTAL`).")
def get_valuation(request: Request,
                  *, location: str | None = Query(None, max_length=50,
                                                  description="Location id or code."),
                  format: Literal["json", "csv"] | None = CSV_FORMAT,
                  _: Principal = Depends(REPORTS),
                  session: DbSession) -> ValuationOut | Response:
    report = purchasing.valuation(session, location)
    if wants_csv(request, format):
        return csv_response(purchasing.valuation_csv(report), "inventory-valuation.csv")
    return ValuationOut(
        locations=[ValuationRow(location_id=place.id, code=place.code, name=place.name,
                                currency=v.currency, units=v.units, value=v.value,
                                uncosted_units=v.uncosted_units)
                   for place, v in report.locations],
        totals=[ValuationTotal(currency=v.currency, units=v.units, value=v.value,
                               uncosted_units=v.uncosted_units) for v in report.totals])


