"""The system under test: a fresh database, a real uvicorn process, an organization and a token.

Benchmarks measure Mercato as it is deployed (one uvicorn worker, MERCATO_* settings, migrated
schema), not a TestClient: the server runs in its own process, started from the same
virtualenv, and every database is created for the run and dropped after it.

On PostgreSQL the server connects as a non-superuser role that owns the database (as production
should, and as the test suite does): a superuser bypasses row-level security, so it would
measure a cheaper system than the one we ship. ``MERCATO_BENCH_PG_ROLE=postgres`` measures that.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import _cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("MERCATO_BENCH_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
PG_ROLE = os.environ.get("MERCATO_BENCH_PG_ROLE", "mercato_bench")
SECRET_KEY = "bench-secret-key-not-for-production"  # a throwaway database's key
OWNER_EMAIL = "owner@bench.test"
OWNER_PASSWORD = "benchpass123"
BACKENDS = ("sqlite", "postgresql")
SERVER_WORKERS = int(os.environ.get("MERCATO_BENCH_WORKERS", "1"))
"""Server processes (``mercato serve --workers``); ``python -m bench --workers`` sets it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_admin() -> Any:
    """An autocommit connection to the PostgreSQL server as the admin user."""
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


def postgres_version() -> str | None:
    try:
        with pg_admin() as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except Exception:
        return None
    return str(row[0]) if row else None


@contextmanager
def fresh_database(backend: str) -> Iterator[str]:
    """A new, migrated database for one benchmark; yields its SQLAlchemy URL, then drops it."""
    from mercato.migrations import upgrade

    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="mercato-bench-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            upgrade(url)
            yield url
        return
    if backend != "postgresql":
        raise ValueError(f"unknown database {backend!r}; choose from {', '.join(BACKENDS)}")
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"bench_{secrets.token_hex(6)}"
    with pg_admin() as conn:
        admin_user = conn.info.user
        role = PG_ROLE
        if role != admin_user and conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
        ).fetchone() is None:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS")
                         .format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}")
                     .format(sql.Identifier(name), sql.Identifier(role)))
    url = (make_url(PG_ADMIN_URL)
           .set(drivername="postgresql+psycopg", username=role, database=name)
           .render_as_string(hide_password=False))
    try:
        upgrade(url)
        yield url
    finally:
        with pg_admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                         .format(sql.Identifier(name)))


def server_env(database_url: str, extensions: Sequence[str] = ()) -> dict[str, str]:
    """The process environment for the server and the CLI: ours, not the caller's MERCATO_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}
    env.update({
        "MERCATO_DATABASE_URL": database_url,
        "MERCATO_SECRET_KEY": SECRET_KEY,
        "MERCATO_LOG_LEVEL": "warning",
        "MERCATO_ACCESS_TOKEN_TTL_SECONDS": "86400",  # a long run must not outlive its token
        "MERCATO_EXTENSIONS": ",".join(extensions),
        "PYTHONUNBUFFERED": "1",  # the server log is read while the server runs
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    })
    return env


def mercato_command() -> list[str]:
    """The ``mercato`` CLI of this interpreter's environment."""
    cli = Path(sys.executable).with_name("mercato")
    return [str(cli)] if cli.exists() else [sys.executable, "-c",
                                            "from mercato.cli import main; main()"]


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_org(database_url: str) -> dict[str, Any]:
    """The benchmark organization and its owner, through the ``mercato org create`` CLI."""
    done = subprocess.run(
        [*mercato_command(), "org", "create", "--name", "Bench", "--slug", "bench",
         "--owner-email", OWNER_EMAIL, "--owner-password", OWNER_PASSWORD],
        env=server_env(database_url), cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mercato org create failed ({done.returncode}):\n"
                           f"{done.stdout}\n{done.stderr}")
    out = done.stdout
    result: dict[str, Any] = json.loads(out[out.index("{"):])  # skip any log lines before it
    return result


@dataclass
class Server:
    """A running uvicorn process serving Mercato."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    token: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def pids(self) -> tuple[int, ...]:
        """The server and, with several workers, the worker processes it started."""
        children: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            with suppress(OSError, ValueError):
                children += [int(c) for c in (task / "children").read_text().split()]
        return (self.pid, *sorted(set(children)))

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One request with the standard library, for setup and checks (not for load)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            data = None if body is None else (body if isinstance(body, bytes)
                                              else json.dumps(body).encode())
            all_headers = {**({"Content-Type": "application/json"} if data else {}),
                           **(headers or {})}
            conn.request(method, path, body=data, headers=all_headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def sign_in(self, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD) -> str:
        status, body = self.request("POST", "/api/v1/auth/token",
                                    {"email": email, "password": password})
        if status != 200:
            raise RuntimeError(f"sign-in failed: {status} {body!r}")
        self.token = str(json.loads(body)["access_token"])
        self.headers = {"Authorization": f"Bearer {self.token}"}
        return self.token


def _settle(pids: Sequence[int], deadline: float) -> None:
    """Until the worker processes are idle: done importing the app, which would otherwise be
    measured with the first case (connections to a worker still starting wait for it)."""
    last = _cpu_seconds(tuple(pids))
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_seconds(tuple(pids))
        if last is None or now is None or now - last < 0.05 * len(pids):
            return
        last = now


@contextmanager
def running_server(database_url: str, extensions: Sequence[str] = (),
                   settings: Mapping[str, str] | None = None,
                   startup_timeout: float = 60.0, workers: int | None = None
                   ) -> Iterator[Server]:
    """``mercato serve`` in its own process (``SERVER_WORKERS`` server processes unless
    told), as deployed; yields once GET /health answers 200 and every server process is
    idle."""
    port = free_port()
    workers = workers or SERVER_WORKERS
    command = [*mercato_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers), "--no-migrate"]
    env = {**server_env(database_url, extensions), **(settings or {})}
    with tempfile.NamedTemporaryFile(prefix="mercato-bench-server-", suffix=".log",
                                     delete=False) as log:
        log_path = Path(log.name)
        process = subprocess.Popen(command, env=env, cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
    server = Server("127.0.0.1", port, process, log_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                if (server.request("GET", "/health")[0] == 200
                        and (workers == 1 or len(server.pids) > workers)):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not healthy after {startup_timeout}s")
            time.sleep(0.1)
        if workers > 1:
            _settle(server.pids[1:], deadline)
        yield server
    except BaseException:
        sys.stderr.write(f"--- server log (last lines) ---\n{server.log_tail()}\n")
        raise
    finally:
        stop(process)
        log_path.unlink(missing_ok=True)


@dataclass
class Stack:
    """Everything a benchmark measures against, for one database."""

    backend: str
    database_url: str
    server: Server
    org: dict[str, Any]


@contextmanager
def stack(backend: str, *, extensions: Sequence[str] = (),
          setup: Callable[[str], None] | None = None) -> Iterator[Stack]:
    """Fresh database -> ``setup(url)`` (seed data, extra tables) -> org -> server -> token."""
    with fresh_database(backend) as url:
        if setup is not None:
            setup(url)
        org = create_org(url)
        with running_server(url, extensions) as server:
            server.sign_in()
            yield Stack(backend, url, server, org)
