"""Identity use cases: sign-in, the authenticator, staff and API keys."""

from __future__ import annotations

import datetime as dt
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import structlog
from sqlalchemy import ColumnElement, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from mercato.core.db import (
    SYSTEM,
    TENANT,
    Database,
    add_unique,
    require_owned,
    set_tenant,
    system_scope,
    tenant_execute,
    utcnow,
)
from mercato.core.errors import (
    Conflict,
    Forbidden,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from mercato.core.ids import new_id
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.core.principal import Principal
from mercato.identity import operators
from mercato.identity.models import (
    ApiKey,
    LoginFailure,
    PlatformOperator,
    RefreshToken,
    StaffSignIn,
    StaffUser,
)
from mercato.identity.passwords import MAX_LENGTH, MIN_LENGTH, Passwords
from mercato.identity.permissions import ALL, permissions_for
from mercato.identity.permissions import PERMISSIONS as PERMISSIONS  # the face's: pages list them
from mercato.identity.permissions import Role as Role
from mercato.identity.tokens import API_KEY_PREFIX as API_KEY_PREFIX
from mercato.identity.tokens import (
    INVITE_PREFIX,
    REFRESH_PREFIX,
    WEB_SESSION_PREFIX,
    TokenSigner,
    make_compound_secret,
    secret_matches,
    split_compound_secret,
)
from mercato.settings import Settings
from mercato.tenancy import (
    Organization,
    check_limit,
    create_organization,
    get_by_slug,
    require_active,
    set_plan,
)

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,251}\.[^@\s]+$")
LOGIN_LIMIT_LOCK = 7295300
"""PostgreSQL advisory locks of the sign-in limits: (this, a hash of the email or client)."""
T = TypeVar("T")
log = structlog.get_logger("mercato.identity")
INVITE_TTL = dt.timedelta(days=7)
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


def normalize_email(email: str) -> str:
    value = email.strip().lower()
    if len(value) > 254 or not EMAIL.match(value):
        raise ValidationFailed("Invalid email address.",
                               errors=[{"field": "email", "message": "not an email address"}])
    return value


def check_password(password: str, field: str = "password") -> str:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ValidationFailed(
            "Password too short or too long.",
            errors=[{"field": field,
                     "message": f"must be {MIN_LENGTH} to {MAX_LENGTH} characters"}],
        )
    return password


def _may_grant(actor: Principal, permissions: Iterable[str], what: str) -> None:
    missing = sorted(set(permissions) - actor.permissions)
    if missing:
        raise Forbidden(f"You cannot grant {what} holding permissions you lack.",
                        extra={"missing_permissions": missing})


STORE_PREFIX = "/store/"
AUTH_PREFIX = "/api/v1/auth/"
"""Sign-in, refresh, sign-out, invites: their credential is in the body. A client that sends
its (expired) access token along with a refresh must not be refused for it."""


_staff = StaffUser.__table__
_sign_ins = StaffSignIn.__table__
_STAFF_ROLE = select(_staff.c.role).where(
    _staff.c.id == bindparam("id"), _staff.c.is_active.is_(True),
    _staff.c.organization_id == TENANT)
"""A member's role while they are active: ``Identity._confirm_staff``."""
_STAFF_ROLE_SIGNED_IN = (
    select(_staff.c.role)
    .select_from(_staff.join(_sign_ins, _sign_ins.c.staff_id == _staff.c.id))
    .where(_staff.c.id == bindparam("id"), _staff.c.is_active.is_(True),
           _staff.c.organization_id == TENANT, _sign_ins.c.id == bindparam("sid"),
           _sign_ins.c.ended_at.is_(None), _sign_ins.c.organization_id == TENANT))
"""The same, while the token's sign-in has not ended: still one statement, two primary keys."""
_WEB_SESSION = (
    select(_sign_ins.c.organization_id, _sign_ins.c.web_secret_hash, _sign_ins.c.expires_at,
           _sign_ins.c.last_used_at, _sign_ins.c.ended_at, _staff.c.id, _staff.c.email,
           _staff.c.role, _staff.c.is_active)
    .select_from(_sign_ins.join(_staff, _staff.c.id == _sign_ins.c.staff_id))
    .where(_sign_ins.c.id == bindparam("sid")))
"""A browser session's sign-in and its member: every admin page runs it, so it is one prebuilt
statement by primary key (``Identity.web_session``)."""
_KEY_OWNER_ROLE = select(_staff.c.id, _staff.c.role).where(
    _staff.c.id == bindparam("id"), _staff.c.is_active.is_(True),
    _staff.c.organization_id == bindparam("org"))
"""An API key's owner and their role, while they are active: ``Identity._authenticate_key``."""
_FIRST_OWNER = (
    select(_staff.c.id, _staff.c.role)
    .where(_staff.c.organization_id == bindparam("org"), _staff.c.is_active.is_(True),
           _staff.c.role == Role.OWNER.value)
    .order_by(_staff.c.created_at, _staff.c.id).limit(1))
"""The owner of keys with no recorded creator (made by the CLI): the earliest active owner."""


@dataclass(frozen=True)
class TokenPair:
    """What a sign-in or a refresh hands out."""

    access_token: str
    expires_in: int
    refresh_token: str
    refresh_token_expires_in: int
    principal: Principal


@dataclass(frozen=True)
class WebSession:
    """A browser session of the admin: its sign-in, who it signs in, and whether its last
    use is due to be written (``touch_at``)."""

    sign_in_id: str
    principal: Principal
    touch_at: dt.datetime | None


def _principal(staff_id: str, organization_id: str, email: str, role: str) -> Principal:
    return Principal(kind="staff", id=staff_id, organization_id=organization_id, label=email,
                     permissions=permissions_for(role), role=role)


class Identity:
    """Holds the process-wide parts (hasher, signer, limits); methods take the session."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.settings = settings
        self.passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
        self.signer = TokenSigner(settings.require_secret_key(), settings.access_token_ttl_seconds)
        self.customer_signer = TokenSigner(
            settings.require_secret_key(), settings.customer_token_ttl_seconds,
            purpose="customer-token", token_type="customer")  # noqa: S106 - a type name
        self.operator_signer, self.operator_web_signer = operators.operator_signers(
            settings.require_secret_key(), settings.access_token_ttl_seconds)

    # -- platform operators (identity.operators) ---------------------------------------------

    def create_operator(self, session: Session, *, email: str,
                        password: str) -> PlatformOperator:
        return operators.create_operator(
            session, email=normalize_email(email),
            password_hash=self.passwords.hash(check_password(password)))

    def create_organization(self, session: Session, *, name: str, slug: str,
                            owner_email: str, owner_password: str, plan: str | None = None,
                            limits: Mapping[str, object] | None = None,
                            ) -> tuple[Organization, StaffUser]:
        """A new organization with its owner (the operator's console; the CLI's ``org
        create`` does the same), in the caller's transaction: all of it or nothing. The
        session is scoped to the new organization from here on."""
        org = create_organization(session, name=name, slug=slug)
        set_plan(session, org, plan=plan, limits=limits)
        try:
            owner = self.bootstrap_owner(session, org.id, owner_email, owner_password)
        except ValidationFailed as exc:  # name the fields as the caller gave them
            raise ValidationFailed(exc.detail, errors=[
                {**e, "field": f"owner_{e['field']}"} for e in exc.errors]) from None
        session.flush()
        return org, owner

    def check_operator_password(self, *, email: str, password: str, client: str) -> str:
        """The id of the active operator with this email and password, counted against the
        sign-in limits like a member's (under ``operator:<email>``); 401 otherwise. Reads with
        a session of its own: call it before the request's transaction begins."""
        email = email.strip().lower()

        def check() -> str | None:
            with self.db.session(write=False) as session:
                found = operators.find_for_sign_in(session, email)
            if found is None:
                self.passwords.verify(None, password)  # as long as a wrong password takes
                return None
            return found[0] if self.passwords.verify(found[1], password) else None

        return self.password_attempt(f"operator:{email}", client, check)

    # -- sign-in -----------------------------------------------------------------------------

    def retry_after(
        self, session: Session, column: InstrumentedAttribute[str], value: str
    ) -> int | None:
        window = dt.timedelta(seconds=self.settings.login_failure_window_seconds)
        limit = (self.settings.login_max_failures_per_email if column is LoginFailure.email
                 else self.settings.login_max_failures_per_client)
        since = utcnow() - window
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.created_at))
            .where(column == value, LoginFailure.created_at > since)
        ).one()
        if count < limit or oldest is None:
            return None
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=dt.UTC)
        return int((oldest + window - utcnow()).total_seconds()) + 1

    def password_attempt(self, key: str, client: str, check: Callable[[], T | None]) -> T:
        """Run ``check`` (it verifies a password: what it found, or None when wrong) as one
        sign-in attempt against the limits of ``key`` (an email) and ``client`` (an address).

        The attempt is counted before the password is checked: in a short transaction of its
        own, the failures of both keys are counted and, under the limits, a row is written that
        stands for this attempt (429 otherwise). Counting and writing are one step (an advisory
        lock per key on PostgreSQL, the write lock on SQLite), so attempts made at once cannot
        all see room under the limit: no more than the limit's worth of passwords are ever
        checked, however many arrive together. No lock is held while the hash is computed. A
        wrong password leaves the row as its failure; the right one clears the email's
        failures; anything else (an error) takes the row back. Call with no transaction open
        in the caller's session: on SQLite it would hold the lock this waits for."""
        attempt = self._reserve_attempt(key[:254], client[:64])
        try:
            found = check()
        except BaseException:
            self._forget_attempt(attempt)
            raise
        if found is None:
            raise Unauthorized("Email or password is incorrect.")
        self.clear_login_failures(key)
        return found

    def _reserve_attempt(self, key: str, client: str) -> int:
        with self.db.transaction() as session:
            if session.get_bind().dialect.name == "postgresql":
                for lock in sorted({_limit_lock(key), _limit_lock(f"client {client}")}):
                    session.execute(select(func.pg_advisory_xact_lock(LOGIN_LIMIT_LOCK, lock)))
            for column, value in ((LoginFailure.email, key), (LoginFailure.client, client)):
                retry = self.retry_after(session, column, value)
                if retry is not None:
                    raise RateLimited("Too many failed sign-ins; try again later.",
                                      retry_after=retry)
            attempt = LoginFailure(email=key, client=client)
            session.add(attempt)
            session.flush()
            return attempt.id

    def _forget_attempt(self, attempt: int) -> None:
        try:
            with self.db.transaction() as session:
                session.execute(delete(LoginFailure).where(LoginFailure.id == attempt))
        except Exception:  # the error being raised matters more; the row expires anyway
            log.exception("login_attempt_not_forgotten", attempt=attempt)

    def clear_login_failures(self, key: str) -> None:
        """The right password: the email's failures are forgotten (its client's stay)."""
        with self.db.transaction() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.email == key[:254]))

    def check_staff_password(self, *, email: str, password: str, organization: str | None,
                             client: str) -> tuple[str, str]:
        """(member id, organization id) of the active member with this email and password,
        counted against the sign-in limits (``password_attempt``); 401 for a wrong password,
        422 when it fits members of several organizations and none is named. Reads with a
        session of its own: call it before the request's transaction begins."""
        email = email.strip().lower()

        def check() -> list[tuple[str, str]] | None:
            stmt = (select(StaffUser.id, StaffUser.organization_id, StaffUser.password_hash)
                    .where(StaffUser.email == email, StaffUser.is_active.is_(True)))
            with self.db.session(write=False, tenant=SYSTEM) as session:
                if organization:
                    named = get_by_slug(session, organization)
                    stmt = stmt.where(StaffUser.organization_id
                                      == (named.id if named is not None else None))
                candidates = session.execute(stmt).all()
            if not candidates:
                self.passwords.verify(None, password)  # as long as a wrong password takes
            matches = [(staff_id, org_id) for staff_id, org_id, hashed in candidates
                       if self.passwords.verify(hashed, password)]
            return matches or None

        matches = self.password_attempt(email, client, check)
        if len(matches) > 1:
            raise ValidationFailed(
                "This account belongs to several organizations: say which one.",
                errors=[{"field": "organization", "message": "required for this account"}],
            )
        return matches[0]

    def start_sign_in(self, session: Session, staff_id: str, organization_id: str) -> TokenPair:
        """Start a sign-in for a member whose password was checked (``check_staff_password``):
        an access token and the first refresh token of its family."""
        set_tenant(session, organization_id)
        user = session.scalar(select(StaffUser).where(StaffUser.id == staff_id,
                                                      StaffUser.is_active.is_(True)))
        if user is None:  # deactivated since the password was checked
            raise Unauthorized("Email or password is incorrect.")
        now = utcnow()
        sign_in = StaffSignIn(
            id=new_id(), staff_id=user.id, organization_id=organization_id, last_used_at=now,
            expires_at=now + dt.timedelta(seconds=self.settings.refresh_token_ttl_seconds))
        session.add(sign_in)
        session.flush()  # before its first refresh token, which refers to it
        return self._hand_out(session, user, sign_in, now)

    def _hand_out(self, session: Session, user: StaffUser, sign_in: StaffSignIn,
                  now: dt.datetime) -> TokenPair:
        """A new access token with the member's current role, and the sign-in's next refresh
        token (only its hash is kept)."""
        require_active(session, sign_in.organization_id)  # a suspended one issues no tokens
        refresh = RefreshToken(
            id=new_id(), sign_in_id=sign_in.id, organization_id=sign_in.organization_id,
            created_at=now, expires_at=min(
                now + dt.timedelta(seconds=self.settings.refresh_token_idle_seconds),
                sign_in.expires_at))
        secret, refresh.secret_hash = make_compound_secret(REFRESH_PREFIX, refresh.id)
        session.add(refresh)
        access = self.signer.issue(subject=user.id, organization_id=user.organization_id,
                                   role=user.role, email=user.email, sign_in=sign_in.id,
                                   not_after=sign_in.expires_at)
        return TokenPair(
            access_token=access,
            expires_in=min(self.signer.ttl_seconds, _seconds_until(sign_in.expires_at, now)),
            refresh_token=secret,
            refresh_token_expires_in=_seconds_until(refresh.expires_at, now),
            principal=self._staff_principal(user))

    def _presented(self, session: Session, token: str) -> tuple[RefreshToken, StaffSignIn]:
        """The refresh token and its sign-in, when the secret matches (401 otherwise). The
        session is then scoped to their organization."""
        parts = split_compound_secret(REFRESH_PREFIX, token.strip())
        found = None
        if parts is not None:
            with system_scope(session):
                found = session.execute(
                    select(RefreshToken, StaffSignIn)
                    .join(StaffSignIn, StaffSignIn.id == RefreshToken.sign_in_id)
                    .where(RefreshToken.id == parts[0])).first()
        if found is None or parts is None or not secret_matches(found[0].secret_hash,
                                                                 parts[1]):
            raise Unauthorized("The refresh token is invalid.")
        set_tenant(session, found[0].organization_id)
        return found[0], found[1]

    def refresh(
        self, session: Session, *, token: str, on_reuse: Callable[[str, str], None]
    ) -> TokenPair:
        """Rotate: mark the presented refresh token used (compare-and-set, so of two requests
        with one token exactly one wins) and hand out the next pair. A token that was used
        already means it was copied: ``on_reuse(organization, sign-in)`` is to end the
        sign-in outside this request's transaction, which a 401 rolls back."""
        presented, sign_in = self._presented(session, token)
        now = utcnow()
        if sign_in.ended_at is not None or sign_in.expires_at <= now:
            raise Unauthorized("This sign-in has ended; sign in again.")
        reused = Unauthorized("This refresh token was used already: every token of its "
                              "sign-in is revoked. Sign in again.")
        if presented.used_at is not None:
            on_reuse(sign_in.organization_id, sign_in.id)
            raise reused
        if presented.expires_at <= now:
            raise Unauthorized("The refresh token has expired; sign in again.")
        claimed = session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == presented.id, RefreshToken.used_at.is_(None))
            .values(used_at=now), execution_options={"synchronize_session": False})
        if getattr(claimed, "rowcount", 0) != 1:  # another request used it first
            on_reuse(sign_in.organization_id, sign_in.id)
            raise reused
        user = session.scalar(select(StaffUser).where(StaffUser.id == sign_in.staff_id,
                                                      StaffUser.is_active.is_(True)))
        if user is None:
            raise Unauthorized("This account no longer has access.")
        sign_in.last_used_at = now
        return self._hand_out(session, user, sign_in, now)

    def sign_out(self, session: Session, *, token: str) -> None:
        """End the sign-in of a refresh token (any of its tokens, used or not: the holder
        of one may end it). Ending an ended sign-in changes nothing."""
        _, sign_in = self._presented(session, token)
        _end_sign_ins(session, StaffSignIn.id == sign_in.id, reason="sign_out")

    def end_sign_in(self, organization_id: str, sign_in_id: str, reason: str) -> None:
        """End a sign-in in a transaction of its own (after the request's has rolled back)."""
        with self.db.transaction(tenant=organization_id) as session:
            _end_sign_ins(session, StaffSignIn.id == sign_in_id, reason=reason)

    # -- browser sessions (the admin's pages) ------------------------------------------------

    def start_web_session(self, session: Session, staff_id: str,
                          organization_id: str) -> tuple[str, Principal]:
        """A sign-in held by a browser cookie, for a member whose password was checked
        (``check_staff_password``): (the cookie's value, shown once; the principal). It ends
        like any sign-in: signing out, deactivation, or its absolute or idle end."""
        set_tenant(session, organization_id)
        require_active(session, organization_id)
        user = session.scalar(select(StaffUser).where(StaffUser.id == staff_id,
                                                      StaffUser.is_active.is_(True)))
        if user is None:
            raise Unauthorized("Email or password is incorrect.")
        now = utcnow()
        sign_in = StaffSignIn(
            id=new_id(), staff_id=user.id, organization_id=organization_id, last_used_at=now,
            expires_at=now + dt.timedelta(seconds=self.settings.refresh_token_ttl_seconds))
        cookie, sign_in.web_secret_hash = make_compound_secret(WEB_SESSION_PREFIX, sign_in.id)
        session.add(sign_in)
        return cookie, self._staff_principal(user)

    @staticmethod
    def web_sign_in_id(cookie: str) -> str | None:
        """The sign-in a session cookie names (unchecked: ``web_session`` checks it), or None
        when it is not one."""
        parts = split_compound_secret(WEB_SESSION_PREFIX, cookie.strip())
        return parts[0] if parts is not None else None

    def web_session(self, session: Session, cookie: str) -> WebSession | None:
        """The member a session cookie signs in, with the member's current role, or None when
        the cookie is unknown, ended, past its end or idle too long, or the member is
        deactivated. Scopes the session to their organization."""
        parts = split_compound_secret(WEB_SESSION_PREFIX, cookie.strip())
        if parts is None:
            return None
        with system_scope(session):  # Core, past the ORM's per-statement scoping: it is hot
            found = session.connection().execute(_WEB_SESSION, {"sid": parts[0]}).first()
        if found is None:
            return None
        org_id, secret_hash, expires_at, last_used_at, ended_at, staff_id, email, role, \
            active = found
        if secret_hash is None or not secret_matches(secret_hash, parts[1]):
            return None
        now = utcnow()
        idle = dt.timedelta(seconds=self.settings.refresh_token_idle_seconds)
        if (ended_at is not None or expires_at <= now or not active
                or (last_used_at is not None and last_used_at + idle <= now)):
            return None
        set_tenant(session, org_id)
        stale = last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION
        return WebSession(sign_in_id=parts[0], principal=_principal(staff_id, org_id, email, role),
                          touch_at=now if stale else None)

    def touch_web_session(self, organization_id: str, sign_in_id: str,
                          when: dt.datetime) -> None:
        """Last use of a browser session (its idle end counts from it), written after the
        request's own transaction: bookkeeping, not audited."""
        with self.db.transaction(tenant=organization_id) as session:
            session.execute(
                update(StaffSignIn)
                .where(StaffSignIn.id == sign_in_id,
                       or_(StaffSignIn.last_used_at.is_(None), StaffSignIn.last_used_at < when))
                .values(last_used_at=when), execution_options={"synchronize_session": False})

    def end_web_session(self, session: Session, cookie: str) -> None:
        """Sign out of a browser session; an unknown or ended one changes nothing."""
        found = self.web_session(session, cookie)
        if found is not None:
            _end_sign_ins(session, StaffSignIn.id == found.sign_in_id, reason="sign_out")

    # -- authentication ----------------------------------------------------------------------

    @staticmethod
    def _staff_principal(user: StaffUser) -> Principal:
        return _principal(user.id, user.organization_id, user.email, user.role)

    def verify_staff_token(self, token: str) -> tuple[Principal, str | None]:
        """The staff principal a signed access token names, and its sign-in (``sid``), checked
        without I/O; ``confirm_staff`` checks them against the database (deferred, on the
        endpoint's thread: ``identity.deps.staff_authenticator``)."""
        claims = self.signer.verify(token)
        if claims is None:
            raise Unauthorized("The access token is invalid or has expired.")
        principal = Principal(kind="staff", id=claims.subject,
                              organization_id=claims.organization_id, label=claims.email,
                              permissions=permissions_for(claims.role), role=claims.role)
        return principal, claims.sign_in

    @staticmethod
    def confirm_staff(session: Session, principal: Principal, sign_in: str | None) -> None:
        """Deactivation, a role change or the end of the token's sign-in take effect at once:
        the token's claims must hold. Every staff request runs this, so it is one prebuilt
        statement (``tenant_execute``), by primary keys. Tokens without a sign-in (``sid``)
        are made by code, never by ``/auth/token``."""
        if sign_in is None:
            role = tenant_execute(session, _STAFF_ROLE, {"id": principal.id}).scalar()
        else:
            role = tenant_execute(session, _STAFF_ROLE_SIGNED_IN,
                                  {"id": principal.id, "sid": sign_in}).scalar()
        if role is None:
            raise Unauthorized("This sign-in has ended or the account no longer has access.")
        if role != principal.role:
            raise Unauthorized("Your role changed; refresh the token or sign in again.")

    def authenticate_key(self, session: Session, token: str,
                         after_close: Callable[[Callable[[], None]], None]) -> Principal:
        """The principal an API key acts as (a lookup). Its last-used time is written by a
        callback handed to ``after_close``, to run once the caller's transaction has ended."""
        parts = split_compound_secret(API_KEY_PREFIX, token)
        key = None
        if parts is not None:
            with system_scope(session):
                key = session.get(ApiKey, parts[0])
        if key is None or parts is None or key.revoked_at is not None or not secret_matches(
            key.secret_hash, parts[1]
        ):
            raise Unauthorized("The API key is invalid or revoked.")
        now = utcnow()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            key_id = key.id
            after_close(lambda: self._touch_key(key_id, now))
        with system_scope(session):
            if key.created_by_id is None:
                owner = session.execute(_FIRST_OWNER, {"org": key.organization_id}).first()
            else:
                owner = session.execute(_KEY_OWNER_ROLE, {"id": key.created_by_id,
                                                          "org": key.organization_id}).first()
        if owner is None:
            raise Unauthorized("The API key's owner no longer has access; an owner can give "
                               "the key another owner before deactivating theirs.")
        return Principal(kind="api_key", id=key.id, organization_id=key.organization_id,
                         label=key.name, owner_id=owner.id,
                         permissions=frozenset(key.scopes) & permissions_for(owner.role))

    def _touch_key(self, key_id: str, when: dt.datetime) -> None:
        """Last-used time, written after the request's own transaction has ended.

        Bookkeeping, not a change anyone made: a plain UPDATE, deliberately not audited.
        """
        with self.db.transaction(tenant=SYSTEM) as session:
            session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id,
                       or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < when))
                .values(last_used_at=when),
                execution_options={"synchronize_session": False},
            )

    # -- staff -------------------------------------------------------------------------------

    def list_staff(self, session: Session, params: PageParams) -> Slice[StaffUser]:
        return paginate(session, select(StaffUser), [(StaffUser.id, False)], params)

    def get_staff(self, session: Session, staff_id: str) -> StaffUser:
        return require_owned(session, StaffUser, staff_id, "Staff member")

    def create_staff(
        self,
        session: Session,
        actor: Principal,
        *,
        email: str,
        role: Role,
        password: str | None,
        invite: bool,
    ) -> tuple[StaffUser, str | None]:
        """A staff member with a password, or invited: (user, invite token shown once)."""
        email = normalize_email(email)
        _may_grant(actor, permissions_for(role), f"the {role.value} role")
        if (password is None) == (not invite):
            raise ValidationFailed(
                "Give a password, or set invite to true (not both).",
                errors=[{"field": "password", "message": "password or invite, exactly one"}],
            )
        check_limit(session, actor.organization_id, "staff",
                    lambda: self._active_members(session))
        user = StaffUser(email=email, role=role.value, organization_id=actor.organization_id)
        invite_token = None
        if password is not None:
            user.password_hash = self.passwords.hash(check_password(password))
        else:
            user.id = new_id()
            invite_token, user.invite_token_hash = make_compound_secret(INVITE_PREFIX, user.id)
            user.invite_expires_at = utcnow() + INVITE_TTL
        add_unique(session, user, field="email", detail="A staff member with this email exists.")
        return user, invite_token

    def bootstrap_owner(
        self, session: Session, organization_id: str, email: str, password: str
    ) -> StaffUser:
        """The first owner of a new organization (CLI); no acting principal exists yet."""
        user = StaffUser(email=normalize_email(email), role=Role.OWNER.value,
                         organization_id=organization_id,
                         password_hash=self.passwords.hash(check_password(password)))
        session.add(user)
        return user

    @staticmethod
    def _active_members(session: Session) -> int:
        """Members counted against the plan's ``staff`` limit: active ones, invited included."""
        return int(session.scalar(select(func.count()).select_from(StaffUser)
                                  .where(StaffUser.is_active.is_(True))) or 0)

    def _active_owners(self, session: Session) -> int:
        return int(session.scalar(
            select(func.count()).select_from(StaffUser)
            .where(StaffUser.role == Role.OWNER.value, StaffUser.is_active.is_(True))
        ) or 0)

    def update_staff(
        self,
        session: Session,
        actor: Principal,
        user: StaffUser,
        *,
        role: Role | None = None,
        is_active: bool | None = None,
        password: str | None = None,
    ) -> StaffUser:
        if user.id != actor.id or role is not None:
            _may_grant(actor, permissions_for(user.role), "changes to a member")
        if role is not None:
            _may_grant(actor, permissions_for(role), f"the {role.value} role")
        losing_owner = user.role == Role.OWNER.value and user.is_active and (
            (role is not None and role != Role.OWNER) or is_active is False
        )
        if losing_owner and self._active_owners(session) <= 1:
            raise Conflict("An organization must keep at least one active owner.")
        if role is not None:
            user.role = role.value
        if is_active is False and user.is_active:
            self._revoke_everything_of(session, user)
        if is_active is True and not user.is_active:  # back among the plan's staff members
            check_limit(session, user.organization_id, "staff",
                        lambda: self._active_members(session))
        if is_active is not None:
            user.is_active = is_active
        if password is not None:
            user.password_hash = self.passwords.hash(check_password(password))
            user.invite_token_hash = None
            user.invite_expires_at = None
        return user

    @staticmethod
    def _revoke_everything_of(session: Session, user: StaffUser) -> None:
        """A deactivated member keeps no way in: every sign-in ends (with its refresh and
        access tokens) and the API keys they created are revoked (audited, one entry each)."""
        _end_sign_ins(session, StaffSignIn.staff_id == user.id, reason="deactivated")
        now = utcnow()
        for key in session.scalars(select(ApiKey).where(ApiKey.created_by_id == user.id,
                                                        ApiKey.revoked_at.is_(None))):
            key.revoked_at = now

    def accept_invite(self, session: Session, *, token: str, password: str) -> StaffUser:
        check_password(password)
        parts = split_compound_secret(INVITE_PREFIX, token)
        user = None
        if parts is not None:
            with system_scope(session):
                user = session.get(StaffUser, parts[0])
        if (
            user is None or parts is None or user.invite_token_hash is None
            or user.invite_expires_at is None or user.invite_expires_at < utcnow()
            or not secret_matches(user.invite_token_hash, parts[1])
        ):
            raise Unauthorized("The invitation is invalid or has expired.")
        set_tenant(session, user.organization_id)
        session.info["actor_label"] = user.email
        user.password_hash = self.passwords.hash(password)
        user.invite_token_hash = None
        user.invite_expires_at = None
        return user

    # -- API keys ----------------------------------------------------------------------------

    def create_api_key(
        self, session: Session, actor: Principal, *, name: str, scopes: list[str]
    ) -> tuple[ApiKey, str]:
        unknown = sorted(set(scopes) - ALL)
        if unknown:
            raise ValidationFailed(
                "Unknown scopes.",
                errors=[{"field": "scopes", "message": f"unknown permission {s!r}"}
                        for s in unknown],
            )
        _may_grant(actor, scopes, "a key")
        # A key made by a key belongs to that key's owner: it can never outlive them either.
        owner_id = actor.owner_id if actor.kind == "api_key" else actor.id
        key = ApiKey(id=new_id(), name=name.strip(), scopes=sorted(set(scopes)),
                     created_by_id=owner_id, organization_id=actor.organization_id)
        token, key.secret_hash = make_compound_secret(API_KEY_PREFIX, key.id)
        session.add(key)
        return key, token

    def list_api_keys(self, session: Session, params: PageParams) -> Slice[ApiKey]:
        return paginate(session, select(ApiKey), [(ApiKey.id, False)], params)

    def get_api_key(self, session: Session, key_id: str) -> ApiKey:
        return require_owned(session, ApiKey, key_id, "API key")

    def reassign_api_key(self, session: Session, key_id: str, *, staff_id: str) -> ApiKey:
        """Give a key another owner, e.g. before its owner leaves: from now on it acts with at
        most the new owner's permissions, and stops when they are deactivated."""
        key = self.get_api_key(session, key_id)
        if key.revoked_at is not None:
            raise Conflict("This API key is revoked; create a new one.")
        owner = session.scalar(select(StaffUser).where(StaffUser.id == staff_id))
        if owner is None or owner.status != "active":
            raise ValidationFailed(
                "The new owner must be an active staff member of this organization.",
                errors=[{"field": "staff_id", "message": "no active staff member with this id"}],
            )
        key.created_by_id = owner.id
        return key

    def revoke_api_key(self, session: Session, key_id: str) -> ApiKey:
        key = self.get_api_key(session, key_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
        return key


def _limit_lock(key: str) -> int:
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


def _seconds_until(when: dt.datetime, now: dt.datetime) -> int:
    return max(0, int((when - now).total_seconds()))


def _end_sign_ins(session: Session, condition: ColumnElement[bool], *, reason: str) -> None:
    """Bookkeeping of credentials, not audited: a plain UPDATE of the sign-ins still going."""
    session.execute(update(StaffSignIn).where(condition, StaffSignIn.ended_at.is_(None))
                    .values(ended_at=utcnow(), end_reason=reason),
                    execution_options={"synchronize_session": False})


SIGN_IN_RETENTION = dt.timedelta(days=1)
"""How long an ended or expired sign-in (and its used refresh tokens) is kept."""


def purge_sign_ins(db: Database) -> int:
    """Forget sign-ins that ended or expired a while ago; their tokens go with them."""
    cutoff = utcnow() - SIGN_IN_RETENTION
    with db.transaction(tenant=SYSTEM) as session:
        ended = session.scalars(select(StaffSignIn.id).where(
            or_(StaffSignIn.expires_at < cutoff, StaffSignIn.ended_at < cutoff))).all()
        for start in range(0, len(ended), 500):
            batch = ended[start:start + 500]
            session.execute(delete(RefreshToken).where(RefreshToken.sign_in_id.in_(batch)))
            session.execute(delete(StaffSignIn).where(StaffSignIn.id.in_(batch)))
        return len(ended)


def purge_login_failures(db: Database, settings: Settings) -> None:
    cutoff = utcnow() - dt.timedelta(seconds=settings.login_failure_window_seconds * 2)
    with db.transaction() as session:
        session.execute(delete(LoginFailure).where(LoginFailure.created_at < cutoff))
