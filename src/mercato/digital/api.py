"""Digital delivery's routes: staff's ``/api/v1/digital/...`` (how a variant is delivered, its
key pool and files, deliveries with retry and mark-delivered) and the storefront's
``/store/v1/{store}/me/orders/{order_id}/deliveries`` and ``/downloads/{token}``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status
from starlette.concurrency import run_in_threadpool

from mercato.core.auth import require
from mercato.core.errors import ValidationFailed
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute, uow_of
from mercato.digital import service
from mercato.digital.schemas import (
    DeliveryOut,
    DeliveryStatus,
    FileOut,
    GoodIn,
    GoodOut,
    KeysIn,
    KeyUploadOut,
    MarkDeliveredIn,
    PoolOut,
    ShopperDeliveries,
    ShopperDeliveryOut,
)
from mercato.identity import Shopper, email_verified
from mercato.identity.deps import current_customer
from mercato.orders import service as orders
from mercato.tenancy import Store
from mercato.tenancy.deps import current_store

router = APIRouter(prefix="/api/v1/digital", route_class=MercatoRoute, tags=["digital"])
store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute,
                         tags=["storefront accounts"])
CATALOG_READ, CATALOG_WRITE = require("catalog:read"), require("catalog:write")
ORDERS_READ, FULFIL = require("orders:read"), require("fulfillment:write")


def _pool_out(figures: service.PoolFigures) -> PoolOut:
    return PoolOut(variant_id=figures.variant_id, total=figures.total, drawn=figures.drawn,
                   remaining=figures.remaining)


def _upload_out(upload: service.KeyUpload) -> KeyUploadOut:
    return KeyUploadOut(added=upload.added, duplicates=upload.duplicates,
                        pool=_pool_out(upload.pool))


@router.get("/variants/{variant_id}", response_model=GoodOut,
            summary="How a digital variant is delivered")
def get_good(variant_id: str, *, _: Principal = Depends(CATALOG_READ),
             session: DbSession) -> GoodOut:
    return GoodOut.model_validate(service.get_good(session, variant_id))


@router.put("/variants/{variant_id}", response_model=GoodOut,
            summary="Set how a digital variant is delivered")
def put_good(variant_id: str, body: GoodIn, request: Request, *,
             _: Principal = Depends(CATALOG_WRITE), session: DbSession) -> GoodOut:
    return GoodOut.model_validate(service.set_good(session, variant_id, body,
                                                   request.app.state.settings))


@router.get("/variants/{variant_id}/keys", response_model=PoolOut,
            summary="The variant's licence-key pool: keys in all, drawn, remaining")
def get_pool(variant_id: str, *, _: Principal = Depends(CATALOG_READ),
             session: DbSession) -> PoolOut:
    service.digital_item(session, variant_id, reading=True)
    return _pool_out(service.pool(session, variant_id))


@router.post("/variants/{variant_id}/keys", response_model=KeyUploadOut,
             status_code=status.HTTP_201_CREATED,
             summary="Add licence keys to the pool (a JSON list); duplicates are reported")
def add_keys(variant_id: str, body: KeysIn, *, _: Principal = Depends(CATALOG_WRITE),
             session: DbSession) -> KeyUploadOut:
    return _upload_out(service.add_keys(session, variant_id, body.keys))


Upload = tuple[bytes, str, str] | None
"""An uploaded file's bytes, name and type; None when the request had none."""


async def _upload(request: Request, file: UploadFile | None = File(
        None, description="The file (its name and type are kept); required.")) -> Upload:
    """The uploaded file read before the request's transaction begins (a SQLite write
    transaction holds the one write lock). Missing, it is refused by the endpoint once the
    variant is found (another organization's variant is 404 whatever the body)."""
    if file is None:
        return None
    uow = uow_of(request)
    upload = file

    def read() -> bytes:
        uow.release()
        return upload.file.read(service.MAX_FILE_BYTES + 1)

    return await run_in_threadpool(read), file.filename or "", file.content_type or ""


def _required(upload: Upload) -> tuple[bytes, str, str]:
    if upload is None:
        raise ValidationFailed("A file is required.", errors=[
            {"field": "file", "message": "required (multipart/form-data)"}])
    return upload


@router.post("/variants/{variant_id}/keys/file", response_model=KeyUploadOut,
             status_code=status.HTTP_201_CREATED,
             summary="Add licence keys from a text or CSV file (one key a line, first column)")
def add_key_file(variant_id: str, *, upload: Upload = Depends(_upload),
                 _: Principal = Depends(CATALOG_WRITE), session: DbSession) -> KeyUploadOut:
    service.digital_item(session, variant_id)
    try:
        text = _required(upload)[0].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("The file is not UTF-8 text.", errors=[
            {"field": "file", "message": "not UTF-8 text"}]) from None
    return _upload_out(service.add_keys(session, variant_id, service.parse_key_text(text),
                                        field="file"))


@router.get("/variants/{variant_id}/files", response_model=list[FileOut],
            summary="The files the variant's download links serve")
def list_files(variant_id: str, *, _: Principal = Depends(CATALOG_READ),
               session: DbSession) -> list[FileOut]:
    return [FileOut.model_validate(f) for f in service.list_files(session, variant_id)]


@router.post("/variants/{variant_id}/files", response_model=FileOut,
             status_code=status.HTTP_201_CREATED,
             summary="Keep a file for the variant's download links (multipart)")
def add_file(variant_id: str, response: Response, *,
             upload: Upload = Depends(_upload),
             _: Principal = Depends(CATALOG_WRITE), session: DbSession) -> FileOut:
    service.digital_item(session, variant_id)
    data, filename, content_type = _required(upload)
    stored = service.add_file(session, variant_id, filename=filename, content_type=content_type,
                              data=data)
    response.headers["Location"] = f"/api/v1/digital/files/{stored.id}"
    return FileOut.model_validate(stored)


@router.delete("/files/{file_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a kept file (links to it stop working)")
def delete_file(file_id: str, *, _: Principal = Depends(CATALOG_WRITE),
                session: DbSession) -> Response:
    service.delete_file(session, file_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/deliveries", response_model=Page[DeliveryOut],
            summary="Deliveries of paid digital order lines, newest first")
def list_deliveries(*, params: PageParams = Depends(page_params),
                    order_id: str | None = Query(None, max_length=26),
                    status_: DeliveryStatus | None = Query(None, alias="status"),
                    _: Principal = Depends(ORDERS_READ), session: DbSession
                    ) -> Page[DeliveryOut]:
    return service.list_deliveries(session, params, order_id=order_id,
                                   status=status_).to_page(DeliveryOut)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut, summary="One delivery")
def get_delivery(delivery_id: str, *, _: Principal = Depends(ORDERS_READ),
                 session: DbSession) -> DeliveryOut:
    return DeliveryOut.model_validate(service.get_delivery(session, delivery_id))


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut,
             summary="Try a pending or failed delivery again now")
def retry_delivery(delivery_id: str, request: Request, *, _: Principal = Depends(FULFIL),
                   session: DbSession) -> DeliveryOut:
    return DeliveryOut.model_validate(service.retry(session, delivery_id,
                                                    request.app.state.settings))


@router.post("/deliveries/{delivery_id}/delivered", response_model=DeliveryOut,
             summary="Mark a delivery delivered (staff delivered it themselves)")
def mark_delivered(delivery_id: str, body: MarkDeliveredIn, *, _: Principal = Depends(FULFIL),
                   session: DbSession) -> DeliveryOut:
    return DeliveryOut.model_validate(service.mark_delivered(session, delivery_id, body.note))


# -- the storefront -------------------------------------------------------------------------------

@store_router.get("/me/orders/{order_id}/deliveries", response_model=ShopperDeliveries,
                  summary="The digital deliveries of one of the shopper's orders: keys and "
                          "download links")
def my_deliveries(order_id: str, *, store: Store = Depends(current_store),
                  shopper: Shopper = Depends(current_customer),
                  session: DbSession) -> ShopperDeliveries:
    order = orders.shopper_order(session, order_id, customer_id=shopper.customer_id,
                                 account_id=shopper.account_id,
                                 verified=email_verified(session, shopper))
    base = f"/store/v1/{store.slug}"
    return ShopperDeliveries(data=[ShopperDeliveryOut.model_validate(d) for d in
                                   service.shopper_deliveries(session, order.id, base=base)])


@store_router.get("/downloads/{token}", response_class=Response,
                  summary="A file by its signed, expiring link (403 altered, 410 expired)",
                  responses={200: {"content": {"application/octet-stream": {}}},
                             403: {"description": "The link is not valid"},
                             410: {"description": "The link has expired"}})
def download(token: str, *, store: Store = Depends(current_store),
             session: DbSession) -> Response:
    stored = service.download(session, store.organization_id, token)
    return Response(stored.data, media_type=stored.content_type, headers={
        "Content-Disposition": f'attachment; filename="{stored.filename}"',
        "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
