"""The staff's customer records: ``/api/v1/customers`` (create, search, read, edit, merge).

Each answer carries what the customer's orders are worth (``orders_count``,
``lifetime_value``), which orders provide through ``identity.ports.customer_figures``; the
customer's order history itself is orders' route (``/customers/{customer_id}/orders``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.orm import Session

from mercato.core.auth import require
from mercato.core.etag import check_if_match, set_etag
from mercato.core.pagination import Page, PageParams
from mercato.core.principal import Principal
from mercato.core.query import page_params
from mercato.core.uow import DbSession, MercatoRoute
from mercato.identity import ports
from mercato.identity.customers import service
from mercato.identity.customers.models import Customer
from mercato.identity.customers.schemas import CustomerIn, CustomerOut, CustomerUpdate, MergeIn

router = APIRouter(route_class=MercatoRoute, tags=["customers"])  # under identity.api's /api/v1
CUSTOMERS_READ, CUSTOMERS_WRITE = require("customers:read"), require("customers:write")


def _customer_out(session: Session, customer: Customer) -> CustomerOut:
    return service.customer_out(customer, ports.customer_figures(session, [customer.id])
                                .get(customer.id))


@router.post("/customers", response_model=CustomerOut, status_code=status.HTTP_201_CREATED)
def create_customer(body: CustomerIn, response: Response,
                    *, _: Principal = Depends(CUSTOMERS_WRITE),
                    session: DbSession) -> CustomerOut:
    customer = service.create_customer(session, body)
    set_etag(response, customer)
    return _customer_out(session, customer)


@router.get("/customers", response_model=Page[CustomerOut])
def list_customers(*, params: PageParams = Depends(page_params),
                   q: str | None = Query(None, max_length=200, description="Name or email."),
                   tag: str | None = Query(None, max_length=100),
                   _: Principal = Depends(CUSTOMERS_READ),
                   session: DbSession) -> Page[CustomerOut]:
    page = service.list_customers(session, params, q=q, tag=tag)
    figures = ports.customer_figures(session, [c.id for c in page.items])
    return Page[CustomerOut](data=[service.customer_out(c, figures.get(c.id))
                                   for c in page.items], next_cursor=page.next_cursor)


@router.get("/customers/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: str, response: Response, *, _: Principal = Depends(CUSTOMERS_READ),
                 session: DbSession) -> CustomerOut:
    customer = service.get_customer(session, customer_id)
    set_etag(response, customer)
    return _customer_out(session, customer)


@router.patch("/customers/{customer_id}", response_model=CustomerOut)
def update_customer(customer_id: str, body: CustomerUpdate, request: Request,
                    response: Response, *, _: Principal = Depends(CUSTOMERS_WRITE),
                    session: DbSession) -> CustomerOut:
    customer = service.get_customer(session, customer_id)
    check_if_match(request, customer)
    service.update_customer(session, customer, body)
    set_etag(response, customer)
    return _customer_out(session, customer)


@router.post("/customers/{customer_id}/merge", response_model=CustomerOut,
             summary="Merge duplicate customers into this one")
def merge_customers(customer_id: str, body: MergeIn, response: Response,
                    *, _: Principal = Depends(CUSTOMERS_WRITE),
                    session: DbSession) -> CustomerOut:
    customer = service.get_customer(session, customer_id)
    service.merge(session, customer, body.duplicates)
    set_etag(response, customer)
    return _customer_out(session, customer)
