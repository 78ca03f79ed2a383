"""Sign-in limits under concurrency: many guesses at once at one account (staff and shopper),
or from one client, never get more than the limit's worth of passwords checked.

A real server on a thread of its own, behind a trusted proxy (127.0.0.1) so that each test
names its own client addresses with ``X-Forwarded-For`` and starts from zero.
"""

from __future__ import annotations

import itertools
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import func, select

from mercato.app import create_app
from mercato.core.db import Database
from mercato.core.errors import Unauthorized
from mercato.core.ids import new_id
from mercato.identity.models import LoginFailure
from mercato.identity.service import LOGIN_LIMIT_LOCK, Identity
from mercato.settings import Settings
from tests.conftest import PASSWORD, LiveServer, create_org, make_settings
from tests.storefront_helpers import SHOPPER_PASSWORD, sign_up

ATTEMPTS = 40
RIGHT_AT = 20  # the right password is the 21st attempt
PER_EMAIL = 5
PER_CLIENT = 20
_addresses = itertools.count(1)


def new_address() -> str:
    """A client address no other test of this module uses."""
    n = next(_addresses)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@dataclass
class RaceServer:
    url: str
    settings: Settings
    db: Database


@pytest.fixture(scope="module")
def race_server(database_url: str) -> Iterator[RaceServer]:
    # Argon2 a little dearer than the other tests' (still far below production's): a check
    # takes long enough for attempts to overlap, as they do on a real server.
    settings = make_settings(database_url, trusted_proxies=["127.0.0.1"],
                             argon2_time_cost=2, argon2_memory_kib=4096,
                             login_max_failures_per_email=PER_EMAIL,
                             login_max_failures_per_client=PER_CLIENT)
    db = Database(database_url, pool_size=3)  # a few connections: the PostgreSQL is shared
    try:
        with LiveServer(create_app(settings, db)) as server:
            yield RaceServer(server.url, settings, db)
    finally:
        db.dispose()


def race(url: str, path: str, bodies: list[dict[str, str]], clients: list[str], *,
         late: int | None = None, limit: int = PER_EMAIL, keyed: bool = False) -> list[int]:
    """POST every body at once (each from its client address, with an Idempotency-Key of its
    own if ``keyed``), answers in the same order.

    Attempt ``late`` waits until ``limit`` answers have come back, so it is sent once the limit
    must have been reached however the server ordered the others."""
    answered = threading.Semaphore(0)
    start = threading.Barrier(len(bodies))

    def one(i: int) -> int:
        with httpx.Client(base_url=url, timeout=60) as http:
            http.get("/health")  # connected before the start
            start.wait()
            if i == late:
                for _ in range(limit):
                    answered.acquire(timeout=60)
            headers = {"X-Forwarded-For": clients[i]}
            if keyed:
                headers["Idempotency-Key"] = f"attempt-{clients[i]}-{i}"
            status = http.post(path, json=bodies[i], headers=headers).status_code
            answered.release()
            return status

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(one, range(len(bodies))))


def _assert_held(statuses: list[int], *, limit: int, right: int | None) -> None:
    wrong = [s for i, s in enumerate(statuses) if i != right]
    assert set(statuses) <= {401, 429}, statuses
    # every wrong guess whose password was checked answered 401: no more than the limit
    assert wrong.count(401) == limit, statuses
    if right is not None:
        assert statuses[right] == 429, statuses  # refused, though the password is right


def _guesses(email: str, right_password: str) -> list[dict[str, str]]:
    return [{"email": email, "password": right_password if i == RIGHT_AT else f"guess {i:03}!"}
            for i in range(ATTEMPTS)]


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "idempotency-keyed"])
def test_forty_guesses_at_once_at_a_staff_account_check_no_more_than_the_limit(
        race_server: RaceServer, keyed: bool) -> None:
    org = create_org(race_server.db, race_server.settings)
    clients = [new_address() for _ in range(ATTEMPTS)]  # a botnet: the email limit alone holds
    statuses = race(race_server.url, "/api/v1/auth/token", _guesses(org.owner_email, PASSWORD),
                    clients, late=RIGHT_AT, keyed=keyed)
    _assert_held(statuses, limit=PER_EMAIL, right=RIGHT_AT)
    with httpx.Client(base_url=race_server.url) as http:
        again = http.post("/api/v1/auth/token", json={"email": org.owner_email,
                                                       "password": PASSWORD},
                          headers={"X-Forwarded-For": new_address()})
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) > 0


def test_forty_guesses_at_once_at_a_shopper_account_check_no_more_than_the_limit(
        race_server: RaceServer) -> None:
    org = create_org(race_server.db, race_server.settings)
    with httpx.Client(base_url=race_server.url,
                      headers={"X-Forwarded-For": new_address()}) as http:
        shopper = sign_up(http, org.slug)  # type: ignore[arg-type]
    path = f"/store/v1/{org.slug}/auth/token"
    clients = [new_address() for _ in range(ATTEMPTS)]
    statuses = race(race_server.url, path, _guesses(shopper["email"], SHOPPER_PASSWORD),
                    clients, late=RIGHT_AT)
    _assert_held(statuses, limit=PER_EMAIL, right=RIGHT_AT)


@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/store/v1/{store}/auth/token"])
def test_forty_guesses_at_once_from_one_client_check_no_more_than_its_limit(
        race_server: RaceServer, path: str) -> None:
    org = create_org(race_server.db, race_server.settings)
    path = path.format(store=org.slug)
    client = new_address()
    bodies = [{"email": f"nobody-{i}-{client}@example.test", "password": "wrong password!"}
              for i in range(ATTEMPTS)]
    statuses = race(race_server.url, path, bodies, [client] * ATTEMPTS)
    _assert_held(statuses, limit=PER_CLIENT, right=None)

    def sign_in(address: str) -> int:
        return httpx.post(f"{race_server.url}/api/v1/auth/token",
                          json={"email": org.owner_email, "password": PASSWORD},
                          headers={"X-Forwarded-For": address}).status_code

    assert sign_in(client) == 429  # that client is limited, even with the right password
    assert sign_in(new_address()) == 200  # the owner elsewhere is not


# -- the attempt itself ------------------------------------------------------------------------

def _failures(db: Database, key: str) -> int:
    with db.session(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(LoginFailure)
                                  .where(LoginFailure.email == key)) or 0)


def test_no_lock_is_held_while_the_password_is_checked(db: Database, settings: Settings) -> None:
    ident = Identity(settings, db)
    key = f"unlocked-{new_id()}@example.test"

    def check() -> str:
        # another writer gets in while the hash is computed: on SQLite the write lock is free
        # (else this waits it out and fails); on PostgreSQL the key's advisory lock is
        with db.transaction() as session:
            if db.dialect == "postgresql":
                assert session.scalar(select(func.pg_try_advisory_xact_lock(
                    LOGIN_LIMIT_LOCK, zlib.crc32(key.encode()) & 0x7FFFFFFF)))
            session.add(LoginFailure(email=f"other-{key}", client="192.0.2.1"))
        return "found"

    assert ident.password_attempt(key, new_address(), check) == "found"


def test_a_wrong_password_stays_counted_the_right_one_clears_an_error_takes_it_back(
        db: Database, settings: Settings) -> None:
    ident = Identity(settings, db)
    key = f"settled-{new_id()}@example.test"
    with pytest.raises(Unauthorized):
        ident.password_attempt(key, new_address(), lambda: None)
    assert _failures(db, key) == 1

    def broken() -> str:
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError):
        ident.password_attempt(key, new_address(), broken)
    assert _failures(db, key) == 1  # the error's attempt is not held against the email
    assert ident.password_attempt(key, new_address(), lambda: "found") == "found"
    assert _failures(db, key) == 0
