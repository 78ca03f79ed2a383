"""Shopper accounts: sign-up, sign-in with customer tokens (never valid on staff routes),
email verification and password reset by mailed one-time token.

An account signs in to a customer record (``identity.customers``). Orders reach a record by
email, and anyone can type any email at sign-up, so an account whose email is not verified
sees only the orders it placed itself; verifying (or resetting the password, which proves
the same) opens the whole history.

Identity imports nothing above it: the guest cart's merge at sign-in and the emails go
through ``identity.ports`` (checkout and notifications provide them).

Plain Python: the FastAPI dependencies that read a customer token from a request
(``optional_customer``, ``current_customer``) are in ``identity.deps``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import Session, object_session

from mercato.core.db import get_owned, utcnow
from mercato.core.errors import Conflict, Unauthorized, ValidationFailed
from mercato.identity import ports
from mercato.identity.customers.models import Customer, CustomerEmail
from mercato.identity.customers.schemas import CustomerIn
from mercato.identity.customers.service import create_customer, get_customer
from mercato.identity.models import CustomerAccount, CustomerToken
from mercato.identity.service import Identity, check_password, normalize_email
from mercato.identity.shoppers import Shopper
from mercato.identity.tokens import make_compound_secret, secret_matches, split_compound_secret
from mercato.tenancy import Store, require_active

TOKEN_PREFIX = "cst_"  # noqa: S105 - a prefix, not a secret
RESET_TTL = dt.timedelta(hours=1)
VERIFY_TTL = dt.timedelta(days=3)
WEB_SESSION_TTL = dt.timedelta(days=30)
PURPOSES = ("password_reset", "verify_email", "web_session")
"""What a ``CustomerToken`` is for: the two mailed one-time tokens, and the storefront pages'
sign-ins (a browser's session, ended by sign-out or a new password)."""
log = structlog.get_logger("mercato.identity")



# -- customer tokens ------------------------------------------------------------------------------

def verify_customer_token(identity: Identity, token: str | None,
                          organization_id: str) -> tuple[Shopper, int]:
    """The shopper a customer token of this store names, and the sign-in generation it was
    issued in, checked without I/O (``confirm_shopper`` checks the generation). A token of
    another store, a staff token or a bad one is a 401."""
    claims = identity.customer_signer.verify(token) if token is not None else None
    if claims is None or claims.organization_id != organization_id:
        raise Unauthorized("The customer token is invalid or has expired; sign in again.")
    shopper = Shopper(account_id=claims.subject, customer_id=claims.role,
                      organization_id=claims.organization_id, email=claims.email)
    return shopper, claims.epoch


def confirm_shopper(session: Session, shopper: Shopper, epoch: int) -> None:
    """A token issued before the password changed has ended: 401."""
    current = session.scalar(select(CustomerAccount.token_epoch)
                             .where(CustomerAccount.id == shopper.account_id))
    if current is None or epoch != current:
        raise Unauthorized("This sign-in has ended (the password changed); sign in again.")


def issue_token(identity: Identity, account: CustomerAccount, email: str) -> str:
    """A customer token; never while the organization is suspended (the caller's session is
    scoped to it: it just read the account)."""
    session = object_session(account)
    if session is not None:
        require_active(session, account.organization_id)
    # the customer id rides in the role claim: a customer token has no staff role to carry
    return identity.customer_signer.issue(subject=account.id,
                                          organization_id=account.organization_id,
                                          role=account.customer_id, email=email,
                                          epoch=account.token_epoch)


# -- sign-up and sign-in ---------------------------------------------------------------------------

def _account_by_email(session: Session, email: str) -> tuple[CustomerAccount, str] | None:
    row = session.execute(
        select(CustomerAccount, CustomerEmail.email)
        .join(CustomerEmail, CustomerEmail.customer_id == CustomerAccount.customer_id)
        .where(CustomerEmail.email == email)).first()
    return (row[0], row[1]) if row else None


def sign_up(session: Session, identity: Identity, *, email: str, password: str,
            first_name: str | None, last_name: str | None) -> CustomerAccount:
    """A new account, on the customer record that already has this email (a past guest) or on
    a new one. One account per record: a second sign-up with the email is a 409."""
    email = normalize_email(email)
    password = check_password(password)
    customer_id = session.scalar(select(CustomerEmail.customer_id)
                                 .where(CustomerEmail.email == email))
    if customer_id is None:
        customer = create_customer(session, CustomerIn(email=email, first_name=first_name,
                                                       last_name=last_name))
    else:
        customer = get_customer(session, customer_id)
        if session.scalar(select(CustomerAccount.id)
                          .where(CustomerAccount.customer_id == customer.id)):
            raise Conflict("An account with this email exists; sign in or reset the password.",
                           errors=[{"field": "email", "message": "already has an account"}])
        customer.first_name = customer.first_name or first_name
        customer.last_name = customer.last_name or last_name
    account = CustomerAccount(customer_id=customer.id,
                              password_hash=identity.passwords.hash(password))
    session.add(account)
    session.flush()
    return account


def _failure_key(organization_id: str, email: str) -> str:
    return f"customer:{organization_id}:{email}"[:254]


def verify_password(identity: Identity, *, organization_id: str, email: str, password: str,
                    client: str) -> str:
    """The id of the store's account with this email and password, counted against the
    sign-in limits per email (in this store) and per client address, as staff sign-ins are
    (``Identity.password_attempt``): 401 for a wrong password, 429 past a limit. Reads with a
    session of its own: call it before the request's transaction begins."""
    email = normalize_email(email)

    def check() -> str | None:
        with identity.db.session(write=False, tenant=organization_id) as session:
            found = _account_by_email(session, email)
            account_id, hashed = (found[0].id, found[0].password_hash) if found else (None, None)
        return account_id if identity.passwords.verify(hashed, password) else None

    return identity.password_attempt(_failure_key(organization_id, email), client, check)


def sign_in(session: Session, identity: Identity, account_id: str,
            email: str) -> tuple[str, CustomerAccount]:
    """A customer token for an account whose password was checked (``verify_password``)."""
    account = get_owned(session, CustomerAccount, account_id)
    if account is None:  # removed since the password was checked
        raise Unauthorized("Email or password is incorrect.")
    return issue_token(identity, account, normalize_email(email)), account


def get_account(session: Session, shopper: Shopper) -> CustomerAccount:
    account = session.get(CustomerAccount, shopper.account_id)
    if account is None:
        raise Unauthorized("This account no longer exists.")
    return account


def email_verified(session: Session, shopper: Shopper) -> bool:
    """Whether the shopper's email is proven: until it is, their order history holds only the
    orders the account placed itself. 401 when the account no longer exists."""
    return get_account(session, shopper).verified_at is not None


# -- one-time tokens: password reset and email verification --------------------------------------

def _new_token(session: Session, account: CustomerAccount, purpose: str,
               ttl: dt.timedelta) -> tuple[str, CustomerToken]:
    row = CustomerToken(account_id=account.id, purpose=purpose, secret_hash="",
                        expires_at=utcnow() + ttl)
    session.add(row)
    session.flush()
    token, row.secret_hash = make_compound_secret(TOKEN_PREFIX, row.id)
    return token, row


def _use_token(session: Session, token: str, purpose: str) -> CustomerAccount:
    """The token's account, the token spent; a wrong, used or expired token is a 422. The
    spend is a conditional update, so two uses at once cannot both succeed."""
    invalid = ValidationFailed("The link is invalid or has expired; ask for a new one.",
                               errors=[{"field": "token", "message": "invalid or expired"}])
    parts = split_compound_secret(TOKEN_PREFIX, token)
    if parts is None:
        raise invalid
    row = session.get(CustomerToken, parts[0])
    if row is None or row.purpose != purpose or not secret_matches(row.secret_hash, parts[1]):
        raise invalid
    spent = session.execute(update(CustomerToken).where(
        CustomerToken.id == row.id, CustomerToken.used_at.is_(None),
        CustomerToken.expires_at > utcnow()).values(used_at=utcnow()))
    if getattr(spent, "rowcount", 0) != 1:
        raise invalid
    account = session.get(CustomerAccount, row.account_id)
    if account is None:
        raise invalid
    return account


def _mail(session: Session, *, kind: str, store: Store, account: CustomerAccount, email: str,
          token: str, token_row: CustomerToken, url: str) -> None:
    customer = session.get(Customer, account.customer_id)
    name = " ".join(x for x in (customer.first_name, customer.last_name) if x) \
        if customer else ""
    mail = ports.AccountMail(kind=kind, to=email, customer_id=account.customer_id,
                       reference=f"{kind}:{token_row.id}",
                       context={"store_name": store.name, "customer_name": name or None,
                                "reset_url" if kind == "password_reset" else "verify_url": url,
                                "token": token, "expires_at": token_row.expires_at.isoformat()})
    ports.send_account_mail(session, mail)


def _no_link(kind: str, store: Store) -> None:
    """A link would have to be made up from the request, which an attacker controls (its
    ``Host``): rather than that, the email is not sent, and the operator is told why."""
    log.error("email_link_unavailable", kind=kind, store=store.slug,
              hint="Set MERCATO_PUBLIC_URL (or verify the store's custom domain): links in "
                   "emails are built only from them, so this email was not sent.")


def request_password_reset(session: Session, store: Store, email: str,
                           link: str | None) -> None:
    """Mail a reset link (``link``: the storefront's reset page, None when there is no
    configured address for it) when the email has an account; say nothing either way (no
    account discovery through this form)."""
    found = _account_by_email(session, normalize_email(email))
    if found is None:
        return
    if link is None:
        _no_link("password_reset", store)
        return
    account, address = found
    token, row = _new_token(session, account, "password_reset", RESET_TTL)
    _mail(session, kind="password_reset", store=store, account=account, email=address,
          token=token, token_row=row, url=f"{link}?token={token}")


def reset_password(session: Session, identity: Identity, *, token: str,
                   password: str) -> CustomerAccount:
    """Set the new password; every earlier sign-in ends. Owning the mailbox proves the email."""
    password = check_password(password)
    account = _use_token(session, token, "password_reset")
    account.password_hash = identity.passwords.hash(password)
    account.token_epoch += 1
    _end_web_sessions(session, account)
    account.verified_at = account.verified_at or utcnow()
    session.flush()
    return account


def request_verification(session: Session, store: Store, account: CustomerAccount,
                         email: str, link: str | None) -> None:
    if account.verified_at is not None:
        return
    if link is None:
        _no_link("verify_email", store)
        return
    token, row = _new_token(session, account, "verify_email", VERIFY_TTL)
    _mail(session, kind="verify_email", store=store, account=account, email=email,
          token=token, token_row=row, url=f"{link}?token={token}")


def verify_email(session: Session, token: str) -> CustomerAccount:
    account = _use_token(session, token, "verify_email")
    account.verified_at = account.verified_at or utcnow()
    session.flush()
    return account


def change_password(session: Session, identity: Identity, account: CustomerAccount, *,
                    current: str, new: str) -> None:
    if not identity.passwords.verify(account.password_hash, current):
        raise ValidationFailed("The current password is wrong.",
                               errors=[{"field": "current_password", "message": "wrong"}])
    account.password_hash = identity.passwords.hash(check_password(new, "new_password"))
    account.token_epoch += 1
    _end_web_sessions(session, account)
    session.flush()


# -- the storefront pages' sessions ----------------------------------------------------------------

def start_web_session(session: Session, account_id: str) -> tuple[str, Shopper]:
    """A browser's sign-in to the storefront pages (the account's password or a mailed token
    was checked): the cookie and the shopper it signs in. Kept server-side (a
    ``CustomerToken`` of purpose ``web_session``): the cookie holds only its id and secret, so
    signing out or a new password ends it at once, unlike a signed customer token, which
    lives until it expires."""
    account = get_owned(session, CustomerAccount, account_id)
    if account is None:  # removed since the password was checked
        raise Unauthorized("Email or password is incorrect.")
    token, _ = _new_token(session, account, "web_session", WEB_SESSION_TTL)
    customer = get_customer(session, account.customer_id)
    return token, Shopper(account_id=account.id, customer_id=account.customer_id,
                          organization_id=account.organization_id, email=customer.email or "")


def _web_session_row(session: Session, cookie: str,
                     organization_id: str) -> tuple[CustomerToken, CustomerAccount, str] | None:
    parts = split_compound_secret(TOKEN_PREFIX, cookie.strip())
    if parts is None:
        return None
    row = session.execute(
        select(CustomerToken, CustomerAccount, Customer.email)
        .join(CustomerAccount, CustomerAccount.id == CustomerToken.account_id)
        .join(Customer, Customer.id == CustomerAccount.customer_id)
        .where(CustomerToken.id == parts[0])).first()
    if row is None:
        return None
    token, account, email = row
    if (token.purpose != "web_session" or token.organization_id != organization_id
            or token.used_at is not None or token.expires_at <= utcnow()
            or not secret_matches(token.secret_hash, parts[1])):
        return None
    return token, account, email or ""


def web_session_shopper(session: Session, cookie: str, organization_id: str) -> Shopper | None:
    """The shopper a storefront session cookie signs in to this organization's store, or None
    when it is no (longer a) session: unknown, signed out, ended by a new password, expired,
    or another organization's."""
    found = _web_session_row(session, cookie, organization_id)
    if found is None:
        return None
    _, account, email = found
    return Shopper(account_id=account.id, customer_id=account.customer_id,
                   organization_id=account.organization_id, email=email)


def end_web_session(session: Session, cookie: str, organization_id: str) -> None:
    """Sign a browser out; an unknown or ended session changes nothing."""
    found = _web_session_row(session, cookie, organization_id)
    if found is not None:
        found[0].used_at = utcnow()
        session.flush()


def _end_web_sessions(session: Session, account: CustomerAccount) -> None:
    """A new password ends every browser's session of the account, as it ends its tokens
    (``token_epoch``)."""
    session.execute(update(CustomerToken).where(
        CustomerToken.account_id == account.id, CustomerToken.purpose == "web_session",
        CustomerToken.used_at.is_(None)).values(used_at=utcnow()))


def profile(account: CustomerAccount, customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "email": customer.email, "first_name": customer.first_name,
            "last_name": customer.last_name, "phones": customer.phones,
            "verified": account.verified_at is not None, "created_at": account.created_at}
