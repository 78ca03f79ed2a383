"""Shopper accounts on the storefront: ``/store/v1/{store}/customers``, ``/auth/...``, ``/me``
(the shopper's orders, ``/me/orders``, are orders' ``api_store``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mercato.core.idempotency import credential_in_body
from mercato.core.uow import DbSession, MercatoRoute, uow_of
from mercato.identity import customer_auth as auth
from mercato.identity import ports
from mercato.identity.customers import service as customers
from mercato.identity.customers.schemas import CustomerAddressOut
from mercato.identity.deps import account_link, client_of, current_customer, identity
from mercato.identity.schemas import TokenResponse
from mercato.identity.schemas_store import (
    Accepted,
    AddressBookIn,
    AddressBookUpdate,
    CustomerTokenRequest,
    CustomerTokenResponse,
    PasswordChangeIn,
    ProfileOut,
    ProfileUpdate,
    ResetConfirmIn,
    ResetRequestIn,
    SignUpIn,
    TokenConfirmIn,
)
from mercato.identity.service import Identity
from mercato.identity.shoppers import Shopper
from mercato.tenancy import Store
from mercato.tenancy.deps import current_store

store_router = APIRouter(prefix="/store/v1/{store}", route_class=MercatoRoute,
                         tags=["storefront accounts"])
BODY_CREDENTIAL = [Depends(credential_in_body)]
"""Sign-in and token routes: the body is the credential an Idempotency-Key is scoped to."""


def _token(ident: Identity, token: str) -> TokenResponse:
    return TokenResponse(access_token=token, expires_in=ident.customer_signer.ttl_seconds)


def _profile(session: Session, shopper: Shopper) -> ProfileOut:
    account = auth.get_account(session, shopper)
    return ProfileOut(**auth.profile(account, customers.get_customer(session,
                                                                     shopper.customer_id)))


@store_router.post("/customers", response_model=ProfileOut, status_code=201,
                   dependencies=BODY_CREDENTIAL,
                   summary="Sign up: a shopper account (a verification email is sent)")
def sign_up(body: SignUpIn, request: Request, *, store: Store = Depends(current_store),
            session: DbSession,
            ident: Identity = Depends(identity)) -> ProfileOut:
    account = auth.sign_up(session, ident, email=body.email, password=body.password,
                           first_name=body.first_name, last_name=body.last_name)
    customer = customers.get_customer(session, account.customer_id)
    auth.request_verification(session, store, account, body.email,
                              account_link(request, session, store, "verify-email"))
    return ProfileOut(**auth.profile(account, customer))


@store_router.post("/auth/token", response_model=CustomerTokenResponse,
                   dependencies=BODY_CREDENTIAL,
                   summary="Sign in: a customer token (rate limited); a guest cart merges in")
async def sign_in(body: CustomerTokenRequest, request: Request,
                  store: Store = Depends(current_store),
                  ident: Identity = Depends(identity)) -> CustomerTokenResponse:
    uow = uow_of(request)
    client = client_of(request)

    def signed_in() -> CustomerTokenResponse:
        # the password first, before the request's transaction (as staff sign-in, api.py)
        account_id = auth.verify_password(ident, organization_id=store.organization_id,
                                         email=body.email, password=body.password,
                                         client=client)
        uow.run_deferred()
        session = uow.session
        token, account = auth.sign_in(session, ident, account_id, body.email)
        cart_id = None
        if body.cart_id:
            shopper = Shopper(account_id=account.id, customer_id=account.customer_id,
                              organization_id=store.organization_id,
                              email=body.email.strip().lower())
            # provided by checkout (identity.ports): identity imports nothing above it
            cart_id = ports.merge_guest_cart(session, body.cart_id, shopper,
                                             request.app.state.settings.cart_ttl_hours)
        return CustomerTokenResponse(access_token=token,
                                     expires_in=ident.customer_signer.ttl_seconds,
                                     cart_id=cart_id)

    return await run_in_threadpool(signed_in)


@store_router.post("/auth/password-reset", response_model=Accepted, status_code=202,
                   summary="Mail a password-reset link (the same answer whether or not the "
                           "email has an account)")
def request_reset(body: ResetRequestIn, request: Request,
                  *, store: Store = Depends(current_store),
                  session: DbSession) -> Accepted:
    auth.request_password_reset(session, store, body.email,
                                account_link(request, session, store, "reset-password"))
    return Accepted(status="If the email has an account, a reset link is on its way.")


@store_router.post("/auth/password-reset/confirm", response_model=TokenResponse,
                   dependencies=BODY_CREDENTIAL,
                   summary="Set a new password with the mailed token; signs in")
def confirm_reset(body: ResetConfirmIn, *, _: Store = Depends(current_store),
                  session: DbSession,
                  ident: Identity = Depends(identity)) -> TokenResponse:
    account = auth.reset_password(session, ident, token=body.token, password=body.password)
    customer = customers.get_customer(session, account.customer_id)
    return _token(ident, auth.issue_token(ident, account, customer.email or ""))


@store_router.post("/auth/verify-email", response_model=Accepted, status_code=202,
                   summary="Mail the signed-in shopper a new verification link")
def request_verify(request: Request, *, store: Store = Depends(current_store),
                   shopper: Shopper = Depends(current_customer),
                   session: DbSession) -> Accepted:
    account = auth.get_account(session, shopper)
    auth.request_verification(session, store, account, shopper.email,
                              account_link(request, session, store, "verify-email"))
    return Accepted(status="A verification link is on its way unless already verified.")


@store_router.post("/auth/verify-email/confirm", response_model=Accepted,
                   dependencies=BODY_CREDENTIAL,
                   summary="Prove the email with the mailed token")
def confirm_verify(body: TokenConfirmIn, *, _: Store = Depends(current_store),
                   session: DbSession) -> Accepted:
    auth.verify_email(session, body.token)
    return Accepted(status="verified")


@store_router.get("/me", response_model=ProfileOut, summary="The signed-in shopper")
def get_me(*, shopper: Shopper = Depends(current_customer),
           session: DbSession) -> ProfileOut:
    return _profile(session, shopper)


@store_router.patch("/me", response_model=ProfileOut, summary="Change name or phones")
def update_me(body: ProfileUpdate, *, shopper: Shopper = Depends(current_customer),
              session: DbSession) -> ProfileOut:
    customer = customers.get_customer(session, shopper.customer_id)
    for name, value in body.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(customer, name, list(dict.fromkeys(value)) if name == "phones" else value)
    session.flush()
    return _profile(session, shopper)


@store_router.post("/me/password", status_code=204, response_class=Response,
                   summary="Change the password; other sign-ins end")
def change_password(body: PasswordChangeIn, *, shopper: Shopper = Depends(current_customer),
                    session: DbSession,
                    ident: Identity = Depends(identity)) -> Response:
    auth.change_password(session, ident, auth.get_account(session, shopper),
                         current=body.current_password, new=body.new_password)
    return Response(status_code=204)


@store_router.get("/me/addresses", response_model=list[CustomerAddressOut],
                  summary="The shopper's address book")
def list_addresses(*, shopper: Shopper = Depends(current_customer),
                   session: DbSession) -> list[CustomerAddressOut]:
    customer = customers.get_customer(session, shopper.customer_id)
    return [CustomerAddressOut.model_validate(a) for a in customer.addresses]


@store_router.post("/me/addresses", response_model=CustomerAddressOut, status_code=201,
                   summary="Add an address (the first one is the default of both kinds)")
def add_address(body: AddressBookIn, *, shopper: Shopper = Depends(current_customer),
                session: DbSession) -> CustomerAddressOut:
    customer = customers.get_customer(session, shopper.customer_id)
    return CustomerAddressOut.model_validate(customers.add_address(
        session, customer, body.address.model_dump(), default_shipping=body.default_shipping,
        default_billing=body.default_billing))


@store_router.patch("/me/addresses/{address_id}", response_model=CustomerAddressOut,
                    summary="Change an address or make it a default")
def update_address(address_id: str, body: AddressBookUpdate,
                   *, shopper: Shopper = Depends(current_customer),
                   session: DbSession) -> CustomerAddressOut:
    customer = customers.get_customer(session, shopper.customer_id)
    changes = body.model_dump(exclude_unset=True)
    if body.address is not None:
        changes["address"] = body.address.model_dump()
    return CustomerAddressOut.model_validate(
        customers.update_address(session, customer, address_id, changes))


@store_router.delete("/me/addresses/{address_id}", status_code=204, response_class=Response,
                     summary="Remove an address")
def delete_address(address_id: str, *, shopper: Shopper = Depends(current_customer),
                   session: DbSession) -> Response:
    customers.delete_address(session, customers.get_customer(session, shopper.customer_id),
                             address_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
