"""The signed-in shopper's orders on the storefront: ``/store/v1/{store}/me/orders``.

Beside the shopper's account routes (``identity.api_store``), under the same tag; here because
an order history is orders' to read. Until the account's email is verified it holds only the
orders the account placed itself (``service.shopper_orders``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from mercato.core.pagination import Page, PageParams
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import Shopper, email_verified
from mercato.identity.deps import current_customer
from mercato.orders import service
from mercato.orders.schemas import ShopperOrderOut

store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute,
                         tags=["storefront accounts"])


@store_router.get("/me/orders", response_model=Page[ShopperOrderOut],
                  summary="The shopper's orders, newest first")
def my_orders(*, params: PageParams = Depends(page_params),
              shopper: Shopper = Depends(current_customer),
              session: DbSession) -> Page[ShopperOrderOut]:
    return service.shopper_orders(
        session, params, customer_id=shopper.customer_id, account_id=shopper.account_id,
        verified=email_verified(session, shopper)).to_page(ShopperOrderOut)


@store_router.get("/me/orders/{order_id}", response_model=ShopperOrderOut,
                  summary="One of the shopper's orders")
def my_order(order_id: str, *, shopper: Shopper = Depends(current_customer),
             session: DbSession) -> ShopperOrderOut:
    return ShopperOrderOut.model_validate(service.shopper_order(
        session, order_id, customer_id=shopper.customer_id, account_id=shopper.account_id,
        verified=email_verified(session, shopper)))
