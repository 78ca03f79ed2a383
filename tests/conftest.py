"""Shared fixtures: every test that takes ``database_url`` runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``MERCATO_TEST_POSTGRES_URL`` (default: the local server as ``postgres``).
The suite connects as a non-superuser role that owns a fresh database, exactly as production
should, so row-level security applies. Without a reachable server the PostgreSQL half is
skipped, unless ``MERCATO_TEST_REQUIRE_POSTGRES=1`` (CI), which makes it an error. NATS
(``MERCATO_TEST_NATS_URL``, JetStream on) is the same: ``require_nats`` skips without it unless
``MERCATO_TEST_REQUIRE_NATS=1``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.app import create_app
from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.observability import configure_logging
from mercato.core.proxies import SERVER_OPTIONS
from mercato.identity.service import Identity
from mercato.migrations import upgrade
from mercato.settings import Settings
from mercato.tenancy.service import create_organization

configure_logging("warning", "json")

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("MERCATO_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
PG_ROLE = "mercato_test"
REQUIRE_PG = os.environ.get("MERCATO_TEST_REQUIRE_POSTGRES", "") not in ("", "0", "false")
SECRET = "test-secret-key-not-for-production"
PASSWORD = "correct horse battery"
PUBLIC_URL = "https://shops.mercato.test"
"""The test apps' MERCATO_PUBLIC_URL: links in emails are built on it."""


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


def create_pg_database() -> str:
    """A fresh database owned by a non-superuser role; returns its SQLAlchemy URL."""
    with _pg_admin() as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PG_ROLE,)).fetchone()
        if not exists:
            conn.execute(f"CREATE ROLE {PG_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
        name = f"mercato_test_{new_id().lower()}"
        conn.execute(f"CREATE DATABASE {name} OWNER {PG_ROLE}")
    host_part = PG_ADMIN_URL.split("@", 1)[1].rsplit("/", 1)[0]
    return f"postgresql+psycopg://{PG_ROLE}@{host_part}/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with _pg_admin() as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def postgres_available() -> bool:
    try:
        with _pg_admin():
            return True
    except Exception:
        return False


def require_postgres() -> None:
    """Skip the calling test without PostgreSQL, or fail it when CI requires PostgreSQL."""
    if not postgres_available():
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but not reachable at {PG_ADMIN_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")


NATS_URL = os.environ.get("MERCATO_TEST_NATS_URL", "nats://127.0.0.1:4222")
REQUIRE_NATS = os.environ.get("MERCATO_TEST_REQUIRE_NATS", "") not in ("", "0", "false")


def nats_available() -> bool:
    """A NATS server with JetStream answers at ``NATS_URL``."""
    import asyncio

    import nats

    async def probe() -> None:
        client = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
        try:
            await client.jetstream().account_info()
        finally:
            await client.close()

    try:
        asyncio.run(probe())
        return True
    except Exception:
        return False


def require_nats() -> str:
    """The NATS URL; skip the calling test without NATS (JetStream on), or fail it when CI
    requires NATS (``MERCATO_TEST_REQUIRE_NATS=1``)."""
    if not nats_available():
        if REQUIRE_NATS:
            pytest.fail(f"NATS with JetStream is required but not reachable at {NATS_URL}")
        pytest.skip(f"NATS with JetStream not reachable at {NATS_URL} (start nats-server -js)")
    return NATS_URL


def new_database_url(backend: str, tmp_path: Path) -> str:
    """A fresh, migrated database of the given backend."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / f'mercato-{new_id()}.db'}"
    else:
        require_postgres()
        url = create_pg_database()
    upgrade(url)
    return url


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = new_database_url(backend, tmp_path_factory.mktemp(backend))
    yield url
    if backend == "postgresql":
        drop_pg_database(url)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": SECRET,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "log_level": "warning",
        "migrate_on_start": False,
        "domain_verifier": "tests.tenancy.verifiers:offline",  # no test asks the real DNS
        "public_url": PUBLIC_URL,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url, pool_size=20)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class Org:
    """An organization with its owner, signed in."""

    id: str
    slug: str
    owner_id: str
    owner_email: str
    token: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def create_org(db: Database, settings: Settings, *, slug: str | None = None) -> Org:
    identity = Identity(settings, db)
    slug = slug or f"org-{new_id().lower()}"
    email = f"owner@{slug}.test"
    with db.transaction() as session:
        org = create_organization(session, name=f"Org {slug}", slug=slug)
        owner = identity.bootstrap_owner(session, org.id, email, PASSWORD)
        session.flush()
        org_id, owner_id = org.id, owner.id
    token = identity.signer.issue(subject=owner_id, organization_id=org_id, role="owner",
                                  email=email)
    return Org(id=org_id, slug=slug, owner_id=owner_id, owner_email=email, token=token)


@pytest.fixture
def org(db: Database, settings: Settings) -> Org:
    return create_org(db, settings)


@pytest.fixture
def other_org(db: Database, settings: Settings) -> Org:
    return create_org(db, settings)


def staff_token(client: TestClient, org: Org, role: str) -> str:
    """Add a staff member with ``role`` to ``org`` and sign them in."""
    email = f"{role}-{new_id().lower()}@{org.slug}.test"
    created = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": email, "password": PASSWORD, "role": role})
    assert created.status_code == 201, created.text
    signed_in = client.post("/api/v1/auth/token",
                            json={"email": email, "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text
    return str(signed_in.json()["access_token"])


def walk_pages(client: TestClient, path: str, headers: dict[str, str], *, limit: int,
               **params: Any) -> list[dict[str, Any]]:
    """Every item of a list endpoint, following ``next_cursor`` page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, headers=headers, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= limit
        items += page["data"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A real uvicorn server on a thread, for tests that need concurrent HTTP clients.

    Its socket is bound here, before the thread starts, so no other test process (the suite
    runs on every core) can take the port between choosing it and listening on it."""

    def __init__(self, app: FastAPI) -> None:
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None,
                                access_log=False, lifespan="off", **SERVER_OPTIONS)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60  # a machine busy with the whole suite is slow
        while time.monotonic() < deadline and self.thread.is_alive():
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("live server did not start" + (
            "" if self.thread.is_alive() else ": its thread ended (see the log above)"))

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture(scope="session")
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


def stored_text(db: Database) -> str:
    """Every row of every table as text: what someone holding a copy of the database reads."""
    import mercato.models  # noqa: F401 - every table in the metadata
    from mercato.core.db import SYSTEM, Base

    parts: list[str] = []
    with db.session(write=False, tenant=SYSTEM) as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(table.select()):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        parts.append(bytes(value).decode("utf-8", "replace"))
                    else:
                        parts.append(str(value))
    return "\n".join(parts)
