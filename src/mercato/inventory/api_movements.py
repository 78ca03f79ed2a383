"""HTTP surface of inventory transfers and cycle counts (mounted by ``inventory.api``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, status

from mercato.core.auth import require
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute
from mercato.inventory import counts, transfers
from mercato.inventory.models import StockCount, Transfer
from mercato.inventory.schemas_movements import (
    ApplyIn,
    CountedIn,
    CountIn,
    CountLineOut,
    CountOut,
    CountStatus,
    ReceiveIn,
    TransferIn,
    TransferLineOut,
    TransferOut,
    TransferStatus,
)

router = APIRouter(route_class=MercatoRoute, tags=["inventory"])  # under inventory.api's /api/v1
READ, WRITE = require("inventory:read"), require("inventory:write")
SHORT: dict[int | str, dict[str, Any]] = {409: {"description": (
    "Not enough stock (`insufficient_stock`, with the short lines in `errors`), or the "
    "transfer or count is not in a state that allows this (`conflict`)")}}


def transfer_out(transfer: Transfer) -> TransferOut:
    return TransferOut(
        id=transfer.id, from_location_id=transfer.from_location_id,
        to_location_id=transfer.to_location_id, status=transfer.status,
        note=transfer.note, created_at=transfer.created_at, updated_at=transfer.updated_at,
        lines=[TransferLineOut(sku=line.sku, variant_id=line.variant_id, quantity=line.quantity,
                               received=line.received,
                               in_transit=transfers.in_transit(transfer, line))
               for line in transfer.lines])


def count_out(count: StockCount) -> CountOut:
    return CountOut(
        id=count.id, location_id=count.location_id, status=count.status,
        note=count.note, created_at=count.created_at, applied_at=count.applied_at,
        lines=[CountLineOut(sku=line.sku, variant_id=line.variant_id, expected=line.expected,
                            counted=line.counted, variance=counts.variance(line))
               for line in count.lines])


# -- transfers ---------------------------------------------------------------------------------

@router.post("/inventory/transfers", response_model=TransferOut,
             status_code=status.HTTP_201_CREATED, responses=SHORT,
             summary="Send stock to another location: it leaves the source now, every line "
                     "or none")
def create_transfer(body: TransferIn, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> TransferOut:
    return transfer_out(transfers.create_transfer(session, body))


@router.get("/inventory/transfers", response_model=Page[TransferOut])
def list_transfers(*, status_: TransferStatus | None = Query(None, alias="status"),
                   params: PageParams = Depends(page_params), _: Principal = Depends(READ),
                   session: DbSession) -> Page[TransferOut]:
    return transfers.list_transfers(session, params, status=status_).to_page(
        TransferOut, transfer_out)


@router.get("/inventory/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: str, *, _: Principal = Depends(READ),
                 session: DbSession) -> TransferOut:
    return transfer_out(transfers.get_transfer(session, transfer_id))


@router.post("/inventory/transfers/{transfer_id}/receive", response_model=TransferOut,
             responses=SHORT,
             summary="Land units at the destination (omit lines: everything in transit)")
def receive_transfer(transfer_id: str, *, body: ReceiveIn | None = None,
                     _: Principal = Depends(WRITE),
                     session: DbSession) -> TransferOut:
    transfer = transfers.get_transfer(session, transfer_id)
    return transfer_out(transfers.receive(session, transfer, body or ReceiveIn()))


@router.post("/inventory/transfers/{transfer_id}/cancel", response_model=TransferOut,
             responses=SHORT,
             summary="Return the stock to the source; only before anything is received")
def cancel_transfer(transfer_id: str, *, _: Principal = Depends(WRITE),
                    session: DbSession) -> TransferOut:
    transfer = transfers.get_transfer(session, transfer_id)
    return transfer_out(transfers.cancel(session, transfer))


# -- cycle counts ------------------------------------------------------------------------------

@router.post("/inventory/counts", response_model=CountOut,
             status_code=status.HTTP_201_CREATED,
             summary="Start a count sheet: expected quantities are on hand now")
def create_count(body: CountIn, *, _: Principal = Depends(WRITE),
                 session: DbSession) -> CountOut:
    return count_out(counts.create_count(session, body))


@router.get("/inventory/counts", response_model=Page[CountOut])
def list_counts(*, status_: CountStatus | None = Query(None, alias="status"),
                location: str | None = Query(None, max_length=50),
                params: PageParams = Depends(page_params), _: Principal = Depends(READ),
                session: DbSession) -> Page[CountOut]:
    return counts.list_counts(session, params, status=status_, location=location).to_page(
        CountOut, count_out)


@router.get("/inventory/counts/{count_id}", response_model=CountOut)
def get_count(count_id: str, *, _: Principal = Depends(READ),
              session: DbSession) -> CountOut:
    return count_out(counts.get_count(session, count_id))


@router.put("/inventory/counts/{count_id}/lines", response_model=CountOut,
            summary="Record counted quantities (a SKU not on the sheet is added)")
def record_counts(count_id: str, body: CountedIn, *, _: Principal = Depends(WRITE),
                  session: DbSession) -> CountOut:
    count = counts.get_count(session, count_id)
    return count_out(counts.record(session, count, body))


@router.post("/inventory/counts/{count_id}/apply", response_model=CountOut, responses=SHORT,
             summary="Move each counted line by its variance, every line or none")
def apply_count(count_id: str, *, body: ApplyIn | None = None, _: Principal = Depends(WRITE),
                session: DbSession) -> CountOut:
    count = counts.get_count(session, count_id)
    return count_out(counts.apply(session, count, body or ApplyIn()))


@router.post("/inventory/counts/{count_id}/cancel", response_model=CountOut, responses=SHORT)
def cancel_count(count_id: str, *, _: Principal = Depends(WRITE),
                 session: DbSession) -> CountOut:
    count = counts.get_count(session, count_id)
    return count_out(counts.cancel(session, count))
