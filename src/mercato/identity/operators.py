"""Platform operators: the people who run the platform, outside every organization.

An operator signs in with email and password (the staff sign-in's hashing and attempt limits,
counted under ``operator:<email>`` so they never mix with a member's), and gets an access token
of its own kind (``typ: operator``, its own derived key): a staff route never accepts it, and
an operator route accepts nothing else. Sign-out raises the operator's ``epoch``, which ends
every token issued before it (the pages' sessions too). Plain Python: the routes are in
``identity.platform.api``, the pages in ``web.platform``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mercato.core.db import add_unique
from mercato.core.errors import Unauthorized
from mercato.identity.models import PlatformOperator
from mercato.identity.tokens import TokenSigner

OPERATOR_ORG = "platform"
"""The ``org`` claim of an operator token: no organization's id (ids are ULIDs)."""
WEB_SESSION_SECONDS = 8 * 3600
"""How long an operator's page session lasts (signing out ends it sooner)."""


@dataclass(frozen=True)
class Operator:
    """A signed-in platform operator (what a platform route acts as)."""

    id: str
    email: str
    epoch: int = 0


def operator_signers(secret_key: str, ttl_seconds: int) -> tuple[TokenSigner, TokenSigner]:
    """(API tokens, page sessions): each with its own key and type, neither a staff token."""
    return (TokenSigner(secret_key, ttl_seconds, purpose="operator-token",
                        token_type="operator"),  # noqa: S106 - a type name
            TokenSigner(secret_key, WEB_SESSION_SECONDS, purpose="operator-web-session",
                        token_type="operator-web"))  # noqa: S106 - a type name


def create_operator(session: Session, *, email: str, password_hash: str) -> PlatformOperator:
    """A new operator (the CLI); 409 when the email is taken."""
    operator = PlatformOperator(email=email, password_hash=password_hash)
    add_unique(session, operator, field="email",
               detail=f"An operator with the email {email!r} exists.")
    return operator


def find_for_sign_in(session: Session, email: str) -> tuple[str, str] | None:
    """(id, password hash) of the active operator with this email."""
    row = session.execute(select(PlatformOperator.id, PlatformOperator.password_hash)
                          .where(PlatformOperator.email == email,
                                 PlatformOperator.is_active.is_(True))).first()
    return (row[0], row[1]) if row else None


def issue(signer: TokenSigner, session: Session, operator_id: str) -> tuple[str, int]:
    """(token, seconds it lasts) for an operator whose password was checked."""
    operator = session.get(PlatformOperator, operator_id)
    if operator is None or not operator.is_active:
        raise Unauthorized("Email or password is incorrect.")
    token = signer.issue(subject=operator.id, organization_id=OPERATOR_ORG, role="operator",
                         email=operator.email, epoch=operator.epoch)
    return token, signer.ttl_seconds


def verify(signer: TokenSigner, token: str) -> Operator:
    """The operator a token names, checked without I/O (``confirm`` checks the database)."""
    claims = signer.verify(token)
    if claims is None or claims.organization_id != OPERATOR_ORG:
        raise Unauthorized("The operator token is invalid or has expired.")
    return Operator(id=claims.subject, email=claims.email, epoch=claims.epoch)


def confirm(session: Session, operator: Operator) -> None:
    """Deactivation or a sign-out since the token was issued ends it at once."""
    row = session.execute(select(PlatformOperator.is_active, PlatformOperator.epoch)
                          .where(PlatformOperator.id == operator.id)).first()
    if row is None or not row[0] or row[1] != operator.epoch:
        raise Unauthorized("This operator sign-in has ended.")
    session.info["actor_label"] = f"operator:{operator.email}"


def sign_out(session: Session, operator: Operator) -> None:
    """End every token and page session of the operator issued so far."""
    session.execute(update(PlatformOperator).where(PlatformOperator.id == operator.id)
                    .values(epoch=PlatformOperator.epoch + 1))

