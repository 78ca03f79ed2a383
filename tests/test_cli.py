"""The ``mercato`` command, run as the installed executable in real processes.

Every process gets an environment without inherited ``MERCATO_*`` variables (only those a test
sets), runs in its own process group, and is stopped in ``finally`` (SIGTERM, then SIGKILL to the
group). Every wait is bounded by a deadline; nothing asserts on timings.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from mercato import __version__
from mercato.cli import DEMO_EMAIL, DEMO_PASSWORD, DEMO_SLUG
from mercato.core.db import Database, system_scope
from mercato.core.ids import new_id
from mercato.core.outbox import (
    OutboxDelivery,
    handlers,
    pending_deliveries,
    record_event,
    subscribe,
)
from mercato.core.outbox import unsubscribe as unsubscribe_handler
from mercato.demo_store import CASHIER_EMAIL, CUSTOMER_EMAIL
from mercato.identity.models import StaffUser
from mercato.migrations import current_revision, head_revision
from mercato.settings import Settings
from mercato.tenancy.models import Organization
from tests.conftest import (
    PASSWORD,
    ROOT,
    SECRET,
    Org,
    create_org,
    create_pg_database,
    drop_pg_database,
    free_port,
    make_settings,
    new_database_url,
    require_postgres,
)

MERCATO = Path(sys.executable).with_name("mercato")
COMMAND_TIMEOUT = 120.0
"""Upper bound for a command that should finish by itself (migrate, org create, worker --once)."""
STARTUP_TIMEOUT = 90.0
"""Upper bound for a server to answer /health (a busy two-core machine, migrations first)."""
STOP_TIMEOUT = 20.0

FAST_HASHING = {"MERCATO_ARGON2_TIME_COST": "1", "MERCATO_ARGON2_MEMORY_KIB": "8"}

# Must match tests/cli_extension.py, which this module deliberately does not import: importing it
# would subscribe its handler in this process, for every later test too.
EXTENSION = "tests.cli_extension"
EXTENSION_EVENT = "cli_test.pinged"
EXTENSION_HANDLER = "cli-test-recorder"


# -- running the command ---------------------------------------------------------------------


def cli_env(database_url: str | None = None, *, secret: str | None = SECRET,
            **extra: str) -> dict[str, str]:
    """The outer environment minus every MERCATO_* variable, plus exactly the ones given."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("MERCATO_") and key != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "200"  # help text on one line per option
    if database_url is not None:
        env["MERCATO_DATABASE_URL"] = database_url
    if secret is not None:
        env["MERCATO_SECRET_KEY"] = secret
    env.update(extra)
    return env


def _kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM the process group we created, then SIGKILL it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
            break
        except subprocess.TimeoutExpired:
            continue
    # workers (uvicorn --workers) may outlive the supervisor: the group is ours, end it all
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_cli(args: Sequence[str], env: dict[str, str], *, cwd: Path | None = None,
            stdin: str | None = None,
            timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``mercato ARGS`` to completion; never leaves a process behind."""
    proc = subprocess.Popen(
        [str(MERCATO), *args], env=env, cwd=cwd, text=True, start_new_session=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = proc.communicate(input=stdin or "", timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        pytest.fail(f"mercato {' '.join(args)} did not finish within {timeout}s:\n"
                    f"{stdout}\n{stderr}")
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


class Background:
    """A long-running ``mercato`` command (serve, demo, worker) with its output in a file."""

    def __init__(self, args: Sequence[str], env: dict[str, str], log_dir: Path, *,
                 cwd: Path | None = None) -> None:
        self.args = list(args)
        self.log_path = log_dir / f"mercato-{args[0]}-{new_id()}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(MERCATO), *args], env=env, cwd=cwd, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n--- mercato {' '.join(self.args)} output ---\n{self.output()}")

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            self.fail(f"mercato exited early with code {self.proc.returncode}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            _kill_group(self.proc)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


@contextlib.contextmanager
def background(args: Sequence[str], env: dict[str, str], log_dir: Path, *,
               cwd: Path | None = None) -> Iterator[Background]:
    process = Background(args, env, log_dir, cwd=cwd)
    try:
        yield process
    finally:
        process.stop()


@contextlib.contextmanager
def server(args: Sequence[str], env: dict[str, str], log_dir: Path, *,
           cwd: Path | None = None) -> Iterator[tuple[Background, str]]:
    """``mercato serve|demo ARGS --port P``, once it answers /health: (process, base URL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with background([*args, "--port", str(port)], env, log_dir, cwd=cwd) as process:
        wait_for_health(process, base)
        yield process, base


def wait_for_health(process: Background, base: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        process.check_running()
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.fail(f"no answer on {base}/health within {STARTUP_TIMEOUT}s")


def get_until(process: Background, url: str, status: int, *,
              timeout: float = 30.0) -> httpx.Response:
    """GET ``url`` until it answers ``status`` (bounded); the last response otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        process.check_running()
        response = httpx.get(url, timeout=5)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


# -- databases ---------------------------------------------------------------------------------


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all (an SQLite file that does not exist yet)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    require_postgres()
    url = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def fresh_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database of this test's own (the worker drains everything that is due)."""
    url = new_database_url(backend, tmp_path)
    try:
        yield url
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


@contextlib.contextmanager
def database(url: str) -> Iterator[Database]:
    db = Database(url, pool_size=1)
    try:
        yield db
    finally:
        db.dispose()


def schema_revision(url: str) -> str | None:
    with database(url) as db, db.engine.connect() as conn:
        return current_revision(conn)


def count(url: str, model: type[Any], *criteria: Any) -> int:
    with database(url) as db, db.session(write=False) as session, system_scope(session):
        return int(session.scalar(select(func.count()).select_from(model).filter(*criteria))
                   or 0)


def sign_in(http: httpx.Client | TestClient, email: str, password: str) -> str:
    response = http.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


# -- version and help ----------------------------------------------------------------------------


def test_version_flag_prints_the_installed_version() -> None:
    result = run_cli(["--version"], cli_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mercato {__version__}"


def test_running_without_a_command_shows_the_commands() -> None:
    result = run_cli([], cli_env())
    output = result.stdout + result.stderr
    assert "Usage: mercato" in output
    for command in ("serve", "migrate", "worker", "org", "import", "demo"):
        assert command in output


HELP_CASES = {
    "app": ([], ["--version", "--help", "serve", "migrate", "worker", "org", "demo"]),
    "serve": (["serve"], ["--host", "--port", "--workers", "--migrate", "--no-migrate",
                          "--with-worker"]),
    "migrate": (["migrate"], ["MERCATO_DATABASE_URL"]),
    "worker": (["worker"], ["--once"]),
    "org": (["org"], ["create", "domain"]),
    "org domain verify": (["org", "domain", "verify"], ["HOST", "--org", "--move"]),
    "org create": (["org", "create"], ["--name", "--slug", "--owner-email", "--owner-password",
                                       "--domain"]),
    "demo": (["demo"], ["--host", "--port", "--data-dir"]),
    "import": (["import"], ["products"]),
    "import products": (["import", "products"], ["file", "--org", "--dry-run", "--format"]),
    "inventory": (["inventory"], ["verify"]),
    "inventory verify": (["inventory", "verify"], ["--org", "--rebuild"]),
    "events": (["events"], ["dead", "replay"]),
    "events dead": (["events", "dead"], ["--org", "--handler", "--type", "--json"]),
    "events replay": (["events", "replay"], ["ids", "--all", "--org", "--handler", "--type"]),
}


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("case", list(HELP_CASES))
def test_help_works_for_every_command_and_mentions_its_options(case: str, flag: str) -> None:
    command, mentions = HELP_CASES[case]
    result = run_cli([*command, flag], cli_env(secret=None))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Usage: mercato {' '.join(command)}".rstrip() in result.stdout
    for mention in mentions:
        assert mention in result.stdout, f"{case} help does not mention {mention}"


# -- migrate -------------------------------------------------------------------------------------


def test_migrate_creates_the_schema_on_an_empty_database(empty_database_url: str) -> None:
    env = cli_env(empty_database_url, secret=None)  # migrating needs no secret key
    result = run_cli(["migrate"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "database is up to date" in result.stdout
    assert head_revision() is not None
    assert schema_revision(empty_database_url) == head_revision()

    again = run_cli(["migrate"], env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert schema_revision(empty_database_url) == head_revision()


# -- org create ----------------------------------------------------------------------------------


def org_create(database_url: str, *, slug: str, email: str, name: str = "Card Shop",
               password: str = PASSWORD,
               extra: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    return run_cli(["org", "create", "--name", name, "--slug", slug, "--owner-email", email,
                    "--owner-password", password, *extra],
                   cli_env(database_url, **FAST_HASHING))


def unique_slug() -> str:
    return f"cli-{new_id().lower()}"


def test_org_create_prints_the_organization_with_its_owner_as_json_and_the_owner_signs_in(
    database_url: str, client: TestClient
) -> None:
    slug = unique_slug()
    email = f"owner@{slug}.test"
    result = org_create(database_url, slug=slug, email=email, name="Card Shop",
                        extra=["--domain", f"{slug}.example.com"])
    assert result.returncode == 0, result.stdout + result.stderr

    created = json.loads(result.stdout)  # stdout is the JSON document and nothing else
    assert created["slug"] == slug
    assert created["name"] == "Card Shop"
    assert created["id"]
    assert created["domains"] == [f"{slug}.example.com"]
    assert created["owner"]["email"] == email
    assert created["owner"]["role"] == "owner"
    assert created["owner"]["id"]

    token = sign_in(client, email, PASSWORD)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["id"] == created["owner"]["id"]
    assert me.json()["organization"] == {"id": created["id"], "slug": slug, "name": "Card Shop"}


def test_org_create_with_a_taken_slug_fails_clearly_and_creates_nothing(
    database_url: str,
) -> None:
    slug = unique_slug()
    first = org_create(database_url, slug=slug, email=f"first@{slug}.test")
    assert first.returncode == 0, first.stdout + first.stderr

    second_email = f"second@{slug}.test"
    second = org_create(database_url, slug=slug, email=second_email, name="Impostor")
    assert second.returncode != 0
    assert second.stdout == ""
    error = json.loads(second.stderr)
    assert error["error"] == "conflict"
    assert slug in error["detail"]
    assert error["errors"] == [{"field": "slug", "message": "already in use"}]
    assert "Traceback" not in second.stderr

    assert count(database_url, Organization, Organization.slug == slug) == 1
    assert count(database_url, Organization, Organization.name == "Impostor") == 0
    assert count(database_url, StaffUser, StaffUser.email == second_email) == 0


def test_the_operator_s_domains_route_at_once_and_org_domain_verify_vouches_for_a_claim(
    database_url: str, client: TestClient, org: Org
) -> None:
    """`org create --domain` and `org domain verify` are the operator's: trusted, no proof."""
    slug = unique_slug()
    vouched = f"{slug}.example.com"
    result = org_create(database_url, slug=slug, email=f"owner@{slug}.test",
                        extra=["--domain", vouched])
    assert result.returncode == 0, result.stdout + result.stderr
    assert client.get("/store/v1", headers={"Host": vouched}).json()["slug"] == slug

    claimed = f"claimed-{slug}.example.com"
    pending = client.post("/api/v1/organization/domains", headers=org.headers,
                          json={"domain": claimed})
    assert pending.json()["verified"] is False
    env = cli_env(database_url)
    verified = run_cli(["org", "domain", "verify", "--org", org.slug, claimed], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout) == {"id": pending.json()["id"], "domain": claimed,
                                           "organization": org.slug, "verified": True,
                                           "verified_by": "operator"}
    assert client.get("/store/v1", headers={"Host": claimed}).json()["slug"] == org.slug

    taken = run_cli(["org", "domain", "verify", "--org", slug, claimed], env)
    assert taken.returncode == 1
    assert json.loads(taken.stderr)["error"] == "conflict"
    moved = run_cli(["org", "domain", "verify", "--org", slug, "--move", claimed], env)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    client.app.state.domains.forget()  # a server sees another process's change within 30 s
    assert client.get("/store/v1", headers={"Host": claimed}).json()["slug"] == slug

    platform_env = cli_env(database_url, MERCATO_PUBLIC_URL="https://shops.example.com")
    for host in ("shops.example.com", "127.0.0.1", "localhost"):
        refused = run_cli(["org", "domain", "verify", "--org", slug, host], platform_env)
        assert refused.returncode == 1, host
        assert json.loads(refused.stderr)["error"] == "validation_error"
    unknown = run_cli(["org", "domain", "verify", "--org", "no-such-org", claimed], env)
    assert unknown.returncode == 1
    assert "no organization 'no-such-org'" in unknown.stderr


@pytest.mark.parametrize("slug", ["Not_A_Slug", "admin", "ends-with-dash-"])
def test_org_create_refuses_an_invalid_slug_and_creates_nothing(
    database_url: str, slug: str
) -> None:
    email = f"owner-{new_id().lower()}@invalid.test"
    result = org_create(database_url, slug=slug, email=email)
    assert result.returncode != 0
    assert result.stdout == ""
    error = json.loads(result.stderr)
    assert error["error"] == "validation_error"
    assert error["errors"][0]["field"] == "slug"
    assert count(database_url, Organization, Organization.slug == slug) == 0
    assert count(database_url, StaffUser, StaffUser.email == email) == 0


def test_org_create_asks_for_the_password_on_stderr_when_it_is_not_given(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'prompt.db'}"
    result = run_cli(["org", "create", "--name", "Prompted", "--slug", "prompted",
                      "--owner-email", "owner@prompted.test"],
                     cli_env(url, **FAST_HASHING), stdin=f"{PASSWORD}\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Owner password" in result.stderr
    assert json.loads(result.stdout)["slug"] == "prompted"  # the prompt did not leak into it


def test_org_create_without_a_secret_key_refuses_before_touching_the_database(
    tmp_path: Path,
) -> None:
    db_file = tmp_path / "untouched.db"
    result = run_cli(["org", "create", "--name", "X", "--slug", "x", "--owner-email",
                      "owner@x.test", "--owner-password", PASSWORD],
                     cli_env(f"sqlite:///{db_file}", secret=None))
    assert result.returncode != 0
    assert "MERCATO_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not db_file.exists()


# -- serve ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_serve_migrates_a_fresh_database_on_start(
    empty_database_url: str, backend: str, tmp_path: Path
) -> None:
    with server(["serve"], cli_env(empty_database_url), tmp_path) as (process, base):
        ready = get_until(process, f"{base}/ready", 200)
        assert ready.status_code == 200, ready.text
        assert ready.json()["schema"] == head_revision()
        assert ready.json()["database"] == backend
    assert schema_revision(empty_database_url) == head_revision()


@pytest.mark.slow
def test_serve_no_migrate_serves_but_is_not_ready_until_migrated(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = cli_env(empty_database_url)
    with server(["serve", "--no-migrate"], env, tmp_path) as (process, base):
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        not_ready = httpx.get(f"{base}/ready", timeout=10)
        assert not_ready.status_code == 503, not_ready.text
        assert not_ready.headers["content-type"].startswith("application/problem+json")
        problem = not_ready.json()
        assert problem["status"] == 503
        assert problem["code"] == "not_ready"
        assert "mercato migrate" in problem["detail"]

        migrated = run_cli(["migrate"], env)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr

        ready = get_until(process, f"{base}/ready", 200)
        assert ready.status_code == 200, ready.text
        assert ready.json()["schema"] == head_revision()


@pytest.mark.slow
def test_serve_believes_forwarded_headers_only_from_trusted_proxies(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """uvicorn on its own believes X-Forwarded-* from loopback: serve must not, unless told
    (MERCATO_TRUSTED_PROXIES), in one process or several."""
    limits = {**FAST_HASHING, "MERCATO_LOGIN_MAX_FAILURES_PER_CLIENT": "2"}

    def attempts(base: str) -> list[int]:
        return [httpx.post(f"{base}/api/v1/auth/token", timeout=10,
                           headers={"X-Forwarded-For": f"198.51.100.{i}"},
                           json={"email": f"guess-{i}@nowhere.test", "password": "wrong-pass"}
                           ).status_code for i in range(3)]

    def hsts(base: str) -> str | None:
        return httpx.get(f"{base}/health", headers={"X-Forwarded-Proto": "https"},
                         timeout=10).headers.get("strict-transport-security")

    env = cli_env(fresh_database_url, **limits)
    with server(["serve", "--no-migrate"], env, tmp_path) as (_, base):
        assert hsts(base) is None
        assert attempts(base) == [401, 401, 429]  # all from 127.0.0.1, whatever they say
    trusted = cli_env(fresh_database_url, MERCATO_TRUSTED_PROXIES="127.0.0.1", **limits)
    with server(["serve", "--no-migrate", "--workers", "2"], trusted,
                tmp_path) as (_, base):
        assert hsts(base) == "max-age=31536000"
        assert attempts(base) == [401, 401, 401]  # three clients behind the proxy


@pytest.mark.slow
def test_serve_with_two_processes_checks_no_more_passwords_than_the_limit_at_once(
    fresh_database_url: str, tmp_path: Path
) -> None:
    """40 sign-ins at once for one email, spread over two server processes: five passwords
    are checked (401), every other attempt is refused before its check (429)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    env = cli_env(fresh_database_url, **FAST_HASHING)
    start = Barrier(40)

    def attempt(base: str, i: int) -> int:
        with httpx.Client(base_url=base, timeout=60) as http:
            http.get("/health")
            start.wait()
            return http.post("/api/v1/auth/token", json={
                "email": "owner@target.test", "password": f"guess {i:03}!"}).status_code

    with server(["serve", "--no-migrate", "--workers", "2"], env, tmp_path) as (_, base), \
            ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(lambda i: attempt(base, i), range(40)))
    assert sorted(statuses) == [401] * 5 + [429] * 35, statuses


def _health_count(metrics_text: str) -> float:
    match = re.search(
        r'^mercato_http_requests_total\{method="GET",route="/health",status="200"\} (\S+)$',
        metrics_text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def health_counts_by_process(metrics_dir: Path, scratch: Path) -> dict[str, float]:
    """/health requests each server process has counted, read from its own metrics file.

    With several processes every one writes ``counter_<pid>.db`` in PROMETHEUS_MULTIPROC_DIR
    once it has counted a request; reading one file alone gives that process's share.
    """
    counts: dict[str, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = path.stem.removeprefix("counter_")
        single = scratch / f"{pid}-{new_id()}"
        single.mkdir(parents=True)
        shutil.copy(path, single)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(single))  # type: ignore[no-untyped-call]
        counts[pid] = _health_count(generate_latest(registry).decode())
    return counts


@pytest.mark.slow
def test_serve_with_two_workers_answers_from_two_processes_and_aggregates_metrics(
    empty_database_url: str, tmp_path: Path
) -> None:
    # No PROMETHEUS_MULTIPROC_DIR: serve makes its own, under TMPDIR, and removes it on exit.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    scratch = tmp_path / "scratch"
    env = cli_env(empty_database_url, TMPDIR=str(tmp))
    with server(["serve", "--workers", "2"], env, tmp_path) as (process, base):
        made = list(tmp.glob("mercato-metrics-*"))
        assert len(made) == 1, made
        metrics_dir = made[0]
        # The kernel spreads new connections over both processes: ask (bounded) until both
        # have answered.
        by_process: dict[str, float] = {}
        requests = 0
        deadline = time.monotonic() + 60
        while len(by_process) < 2 and time.monotonic() < deadline:
            process.check_running()
            response = httpx.get(f"{base}/health", timeout=5)  # a new connection each time
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "ok"
            requests += 1
            by_process = {pid: n for pid, n in
                          health_counts_by_process(metrics_dir, scratch).items() if n >= 1}
        if len(by_process) < 2:
            process.fail(f"only processes {sorted(by_process)} answered {requests} requests")
        assert str(process.pid) not in by_process  # the supervisor itself serves nothing

        # /metrics reports the sum over both processes (each counts just after answering, so
        # give the last counts a moment to land)
        deadline = time.monotonic() + 30
        while True:
            metrics = httpx.get(f"{base}/metrics", timeout=5)
            assert metrics.status_code == 200, metrics.text
            by_process = health_counts_by_process(metrics_dir, scratch)
            total = sum(by_process.values())
            if _health_count(metrics.text) == total or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert metrics.headers["content-type"].startswith("text/plain")
        assert _health_count(metrics.text) == total
        assert total >= requests
        assert len(by_process) == 2
        assert all(n >= 1 for n in by_process.values())
        assert get_until(process, f"{base}/ready", 200).status_code == 200
    assert process.proc.returncode is not None
    assert not metrics_dir.exists()  # stopped with SIGTERM: the metrics files are gone


@pytest.mark.slow
def test_serve_keeps_connections_for_a_busy_process_instead_of_piling_them_on_one(
    empty_database_url: str, tmp_path: Path
) -> None:
    """Each process accepts on a socket of its own, so connections opened while one process is
    busy (here: stopped) wait for it; kept connections stay spread over both. On one shared
    socket, the idle process accepted all 16 and served them alone from then on."""
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = cli_env(empty_database_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))

    def served(scratch: str) -> dict[str, float]:
        return {pid: n for pid, n in
                health_counts_by_process(metrics_dir, tmp_path / scratch).items() if n >= 1}

    with server(["serve", "--workers", "2"], env, tmp_path) as (process, base):
        port = int(base.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while len(served("s0")) < 2:  # both processes up: each has answered
            if time.monotonic() > deadline:
                process.fail("the second process never answered")
            httpx.get(f"{base}/health", timeout=5)
        # a process counts a request just after answering it: wait until the warm-up's last
        # request shows, so that it is not counted among the 16 below
        before = served("s1")
        for _ in range(50):
            time.sleep(0.2)
            if (again := served("s1")) == before:
                break
            before = again
        busy = int(min(before))
        os.kill(busy, signal.SIGSTOP)
        try:
            connections = [socket.create_connection(("127.0.0.1", port), timeout=30)
                           for _ in range(16)]
            time.sleep(0.5)  # the running process accepts what it can meanwhile
        finally:
            os.kill(busy, signal.SIGCONT)
        try:
            for conn in connections:
                conn.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        finally:
            for conn in connections:
                conn.close()
        time.sleep(0.5)  # each process counts just after answering
        after = served("s2")
        answered = {pid: after[pid] - before.get(pid, 0) for pid in after}
        assert sum(answered.values()) == 16
        assert answered.get(str(busy), 0) >= 1, answered


@pytest.mark.slow
def test_serve_replaces_a_process_that_dies_on_the_same_port(
    empty_database_url: str, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = cli_env(empty_database_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    with server(["serve", "--workers", "2"], env, tmp_path) as (process, base):
        deadline = time.monotonic() + 60
        while not (first := health_counts_by_process(metrics_dir, tmp_path / "s0")):
            assert time.monotonic() < deadline
            httpx.get(f"{base}/health", timeout=5)
        killed = next(iter(first))
        os.kill(int(killed), signal.SIGKILL)
        # a new process answers on the port: its pid shows among the metrics files
        deadline = time.monotonic() + 60
        while not set(health_counts_by_process(metrics_dir, tmp_path / "s1")) - {
                killed, *first}:
            if time.monotonic() > deadline:
                process.fail("no process replaced the one killed")
            process.check_running()
            # The kernel keeps routing some new connections to the killed process's socket (the
            # command holds it for the replacement): they wait until the replacement has
            # loaded the app, which takes more than 10 s on a slow, busy machine.
            assert httpx.get(f"{base}/health", timeout=60).status_code == 200


def test_serve_stops_when_its_processes_cannot_load_the_app(tmp_path: Path) -> None:
    """Not a loop of processes starting and dying: the command fails."""
    result = run_cli(["serve", "--workers", "2", "--no-migrate", "--port", str(free_port())],
                     cli_env(f"sqlite:///{tmp_path / 'x.db'}",
                             MERCATO_EXTENSIONS="no_such_extension_module"))
    assert result.returncode == 3
    assert "a server process failed to start" in result.stderr
    assert result.stderr.count("No module named 'no_such_extension_module'") <= 2


def test_serve_without_a_secret_key_exits_with_a_message_naming_it(tmp_path: Path) -> None:
    db_file = tmp_path / "never.db"
    result = run_cli(["serve", "--port", str(free_port())],
                     cli_env(f"sqlite:///{db_file}", secret=None))
    assert result.returncode != 0
    assert "MERCATO_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not db_file.exists()  # refused before migrating anything


def test_serve_refuses_zero_workers(tmp_path: Path) -> None:
    result = run_cli(["serve", "--workers", "0", "--port", str(free_port())],
                     cli_env(f"sqlite:///{tmp_path / 'never.db'}"))
    assert result.returncode == 2
    assert "--workers" in result.stderr


# -- demo ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def demo(cwd: Path, log_dir: Path) -> Iterator[tuple[Background, str]]:
    """``mercato demo`` with no MERCATO_* variables at all, in ``cwd``."""
    with server(["demo"], cli_env(secret=None), log_dir, cwd=cwd) as running:
        yield running


def _assert_prints_credentials(process: Background, base: str) -> None:
    output = process.output()
    assert f"Mercato demo store '{DEMO_SLUG}' at {base}" in output
    assert DEMO_EMAIL in output
    assert DEMO_PASSWORD in output


@pytest.mark.slow
def test_demo_creates_a_store_the_printed_credentials_sign_in_to(tmp_path: Path) -> None:
    cwd = tmp_path / "shop"
    cwd.mkdir()
    with demo(cwd, tmp_path) as (process, base), httpx.Client(base_url=base,
                                                               timeout=10) as http:
        _assert_prints_credentials(process, base)
        token = sign_in(http, DEMO_EMAIL, DEMO_PASSWORD)
        me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["organization"]["slug"] == DEMO_SLUG
        assert me.json()["role"] == "owner"
        ready = http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["database"] == "sqlite"
        storefront = f"{base}/s/{DEMO_SLUG}/"
        assert f"storefront: {storefront}" in process.output()
        assert f"POS:       {base}/pos" in process.output()
        assert CUSTOMER_EMAIL in process.output()
        assert CASHIER_EMAIL in process.output()
        customer = http.post(f"/store/v1/{DEMO_SLUG}/auth/token",
                             json={"email": CUSTOMER_EMAIL, "password": DEMO_PASSWORD})
        assert customer.status_code == 200, customer.text
        shop = http.get(storefront)
        assert shop.status_code == 200, shop.text
        assert ">Search</label>" in shop.text

    data = cwd / "mercato-demo"  # the default --data-dir, relative to where it ran
    assert (data / "mercato.db").is_file()
    key = data / "secret.key"
    assert key.read_text().strip()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_demo_without_the_emulators_says_how_to_install_them_and_creates_nothing(
        tmp_path: Path) -> None:
    """The emulators are a distribution of their own (``emulators/``): a production install
    has none, and ``mercato demo`` then stops at once with how to install them."""
    data = tmp_path / "demo-data"
    absent = ("import sys; sys.modules['mercato_emulators'] = None; "  # as if not installed
              "sys.modules['mercato_emulators.shopify'] = None; "
              "from mercato.cli import main; sys.argv[0] = 'mercato'; main()")
    result = subprocess.run([sys.executable, "-c", absent, "demo", "--data-dir", str(data)],
                            env=cli_env(secret=None), cwd=tmp_path, text=True,
                            capture_output=True, timeout=COMMAND_TIMEOUT, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error: the demo's Shopify store needs the Mercato emulators" in result.stderr
    assert "pip install -e ./emulators" in result.stderr
    assert "Traceback" not in result.stderr
    assert not data.exists()


@pytest.mark.slow
def test_demo_run_again_reuses_the_same_store_key_and_tokens(tmp_path: Path) -> None:
    cwd = tmp_path / "shop"
    cwd.mkdir()
    key = cwd / "mercato-demo" / "secret.key"
    with demo(cwd, tmp_path) as (_, base), httpx.Client(base_url=base, timeout=10) as http:
        token = sign_in(http, DEMO_EMAIL, DEMO_PASSWORD)
    first_key = key.read_text()

    with demo(cwd, tmp_path) as (process, base), httpx.Client(base_url=base,
                                                               timeout=10) as http:
        _assert_prints_credentials(process, base)
        me = http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text  # same key: the first run's token still works
        assert me.json()["organization"]["slug"] == DEMO_SLUG
        sign_in(http, DEMO_EMAIL, DEMO_PASSWORD)

    assert key.read_text() == first_key
    url = f"sqlite:///{cwd / 'mercato-demo' / 'mercato.db'}"
    assert count(url, Organization) == 1
    assert count(url, StaffUser) == 2  # the owner and the cashier, made once


# -- worker --------------------------------------------------------------------------------------


def worker_env(database_url: str, **extra: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return cli_env(database_url, MERCATO_EXTENSIONS=EXTENSION, PYTHONPATH=pythonpath, **extra)


def delivered(stdout: str) -> int:
    match = re.search(r"^delivered (\d+)$", stdout, re.MULTILINE)
    assert match, f"no 'delivered N' line in:\n{stdout}"
    return int(match.group(1))


@pytest.mark.slow
def test_worker_once_with_nothing_due_exits_0_and_prints_delivered_0(
    fresh_database_url: str,
) -> None:
    result = run_cli(["worker", "--once"], worker_env(fresh_database_url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert delivered(result.stdout) == 0


@pytest.mark.slow
def test_worker_once_delivers_every_due_event_exits_0_and_prints_the_count(
    fresh_database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(fresh_database_url)
    log = tmp_path / "handled.txt"
    with database(fresh_database_url) as db:
        org = create_org(db, settings)
        # the handler exists only in the worker (tests/cli_extension.py); subscribing its name
        # here for a moment makes record_event write its deliveries
        subscribe(EXTENSION_EVENT, name=EXTENSION_HANDLER)(lambda session, event: None)
        # and only it: another module's handler for every event (webhooks' fan-out) would add
        # deliveries of its own if this process has loaded it
        others = [h for h in handlers() if h.name != EXTENSION_HANDLER and h.wants(EXTENSION_EVENT)]
        for handler in others:
            unsubscribe_handler(handler.name)
        try:
            with db.transaction(tenant=org.id) as session:
                events = [record_event(session, EXTENSION_EVENT, resource_type="cli_test",
                                       resource_id=f"r{i}", data={"log": str(log)})
                          for i in range(3)]
                session.flush()
                event_ids = [event.id for event in events]
        finally:
            unsubscribe_handler(EXTENSION_HANDLER)
            for handler in others:
                subscribe(*handler.event_types, name=handler.name, when=handler.when)(handler.func)

    with database(fresh_database_url) as db, db.session(write=False) as session, \
            system_scope(session):  # 3, and 3 more when "*" subscribers (workflows) are loaded
        recorded = len(session.scalars(select(OutboxDelivery.id)).all())
    result = run_cli(["worker", "--once"], worker_env(fresh_database_url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert delivered(result.stdout) == recorded
    assert sorted(log.read_text().split()) == sorted(event_ids)
    with database(fresh_database_url) as db, db.session(write=False) as session, \
            system_scope(session):
        assert pending_deliveries(session) == 0
        statuses = session.scalars(select(OutboxDelivery.status).where(
            OutboxDelivery.handler == EXTENSION_HANDLER)).all()
        assert statuses == ["done"] * 3

    again = run_cli(["worker", "--once"], worker_env(fresh_database_url))
    assert again.returncode == 0, again.stdout + again.stderr
    assert delivered(again.stdout) == 0
    assert len(log.read_text().split()) == 3


@pytest.mark.slow
def test_worker_runs_until_sigterm_then_exits_0(tmp_path: Path) -> None:
    url = new_database_url("sqlite", tmp_path)
    with background(["worker"], worker_env(url, MERCATO_LOG_LEVEL="info"), tmp_path) as process:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while "worker_started" not in process.output():
            process.check_running()
            if time.monotonic() > deadline:
                process.fail("the worker did not report that it started")
            time.sleep(0.1)
        process.proc.send_signal(signal.SIGTERM)
        try:
            code = process.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.fail("the worker ignored SIGTERM")
        assert code == 0, process.output()
        assert "worker_stopped" in process.output()


def test_worker_without_a_secret_key_exits_with_a_message_naming_it(tmp_path: Path) -> None:
    result = run_cli(["worker", "--once"],
                     cli_env(f"sqlite:///{tmp_path / 'never.db'}", secret=None))
    assert result.returncode != 0
    assert "MERCATO_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# -- import products -----------------------------------------------------------------------------


def test_import_products_applies_a_csv_with_progress_and_prints_the_result(
    database_url: str, db: Database, settings: Settings, client: TestClient, tmp_path: Path
) -> None:
    org = create_org(db, settings)
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    tag = new_id().lower()
    csv_file = tmp_path / "cards.csv"
    csv_file.write_text(
        "handle,title,product_type,sku,price,attr.game,attr.set_code,attr.collector_number,"
        "variant.attr.condition,variant.attr.finish,variant.attr.language\n"
        f"bolt-{tag},Lightning Bolt,tcg-single,CLI-1-{tag},1.00,magic,M10,146,NM,nonfoil,EN\n"
        f"bolt-{tag},Lightning Bolt,tcg-single,CLI-2-{tag},0.80,magic,M10,146,LP,nonfoil,EN\n"
        f"bad-{tag},Bad,tcg-single,CLI-3-{tag},free,magic,M10,1,NM,nonfoil,EN\n")
    env = cli_env(database_url)
    result = run_cli(["import", "products", str(csv_file), "--org", org.slug], env)
    assert result.returncode == 3, result.stdout + result.stderr  # a row was skipped
    report = json.loads(result.stdout)
    assert (report["status"], report["created"], report["failed"]) == (
        "completed_with_errors", 2, 1)
    assert report["message"].startswith("1 of 3 rows were not imported")
    assert report["errors"] == [{"line": 4, "sku": f"CLI-3-{tag}", "field": "price",
                                 "message": report["errors"][0]["message"],
                                 "severity": "error"}]
    assert "importing cards.csv" in result.stderr
    found = client.get("/api/v1/products", headers=org.headers, params={"q": f"cli-1-{tag}"})
    assert len(found.json()["data"][0]["variants"]) == 2
    job = client.get(f"/api/v1/imports/{report['id']}", headers=org.headers)
    assert job.json()["status"] == "completed_with_errors"

    missing = run_cli(["import", "products", str(csv_file), "--org", "no-such-org"], env)
    assert missing.returncode == 1
    assert "no organization" in missing.stderr

    # a TCGplayer file's quantities go to --location (two locations: it must be named)
    for code in (f"front-{tag}", f"back-{tag}"):
        made = client.post("/api/v1/locations", headers=org.headers,
                           json={"name": code, "code": code})
        assert made.status_code == 201, made.text
    cards = tmp_path / "tcg.csv"
    cards.write_text("TCGplayer Id,Product Line,Set Name,Product Name,Number,Rarity,Condition,"
                     f"TCG Marketplace Price,Total Quantity\n9{len(tag)}1,Magic,Set {tag},Bolt,"
                     "1,Common,Near Mint,1.00,4\n")
    unnamed = run_cli(["import", "products", str(cards), "--org", org.slug], env)
    assert unnamed.returncode == 1
    assert "say which location" in unnamed.stderr
    placed = run_cli(["import", "products", str(cards), "--org", org.slug,
                      "--location", f"back-{tag}"], env)
    assert placed.returncode == 0, placed.stdout + placed.stderr
    assert json.loads(placed.stdout)["location_id"] is not None
    levels = client.get("/api/v1/inventory/levels", headers=org.headers,
                        params={"sku": f"TCG-9{len(tag)}1"}).json()["data"]
    assert [lv["on_hand"] for lv in levels] == [4]


# -- inventory verify ----------------------------------------------------------------------------


def test_inventory_verify_passes_when_levels_match_the_ledger_and_names_a_level_that_does_not(
    database_url: str, db: Database, settings: Settings, client: TestClient
) -> None:
    from sqlalchemy import text

    from tests.inventory.helpers import make_location, make_variants, receive

    org = create_org(db, settings)
    sku, = make_variants(client, org)
    place = make_location(client, org)
    receive(client, org, sku, place["code"], 4)
    held = client.post("/api/v1/inventory/reservations", headers=org.headers, json={
        "reference": f"cli-{new_id()}", "lines": [{"sku": sku, "quantity": 1}]})
    assert held.status_code == 201, held.text
    env = cli_env(database_url)
    good = run_cli(["inventory", "verify", "--org", org.slug], env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert json.loads(good.stdout)[org.slug] == {"ok": True, "problems": []}

    with db.transaction(tenant=org.id) as session:  # a level written behind the ledger's back
        session.execute(text("UPDATE stock_levels SET on_hand = 9 WHERE location_id = :l"),
                        {"l": place["id"]})
    bad = run_cli(["inventory", "verify", "--org", org.slug], env)
    assert bad.returncode == 1
    problems = json.loads(bad.stdout)[org.slug]["problems"]
    assert [p["location_id"] for p in problems] == [place["id"]]
    assert "ledger on_hand=4" in problems[0]["problem"]

    fixed = run_cli(["inventory", "verify", "--org", org.slug, "--rebuild"], env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert json.loads(fixed.stdout)[org.slug] == {"ok": True, "rebuilt": 1, "problems": []}
    stocked = client.get("/api/v1/inventory/levels", headers=org.headers, params={"sku": sku})
    assert stocked.json()["data"][0]["on_hand"] == 4

    missing = run_cli(["inventory", "verify", "--org", "no-such-org"], env)
    assert missing.returncode == 1
    assert "no organization" in missing.stderr


# -- where commands find their database ----------------------------------------------------------


def test_commands_find_the_demo_database_and_never_create_one_of_their_own(
    tmp_path: Path,
) -> None:
    """After the README's demo command, ``mercato import ... --org demo`` run where the demo
    ran (no MERCATO_* variables) uses the demo's database; elsewhere, a command that does not
    create databases says there is none and leaves no file behind; --data-dir names one."""
    shop = tmp_path / "shop"
    demo_dir = shop / "mercato-demo"  # what `mercato demo` leaves: the database and its key
    demo_dir.mkdir(parents=True)
    (demo_dir / "secret.key").write_text(SECRET)
    env = cli_env(secret=None)
    made = run_cli(["org", "create", "--name", "Demo", "--slug", "demo", "--owner-email",
                    "owner@demo.test", "--owner-password", PASSWORD,
                    "--data-dir", str(demo_dir)], env, cwd=shop)
    assert made.returncode == 0, made.stdout + made.stderr
    cards = tmp_path / "cards.csv"
    cards.write_text("TCGplayer Id,Product Line,Set Name,Product Name,Number,Rarity,Condition,"
                     "TCG Market Price\n1,Magic: The Gathering,Alpha,Black Lotus,232,Rare,"
                     "Near Mint,30000.00\n")

    imported = run_cli(["import", "products", str(cards), "--org", "demo"], env, cwd=shop)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert json.loads(imported.stdout)["created"] == 1
    assert sorted(p.name for p in shop.iterdir()) == ["mercato-demo"]  # no ./mercato.db

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (["import", "products", str(cards), "--org", "demo"],
                 ["inventory", "verify", "--org", "demo"]):
        refused = run_cli(args, env, cwd=elsewhere)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert f"no database at {elsewhere / 'mercato.db'}" in refused.stderr
        assert "mercato migrate" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert list(elsewhere.iterdir()) == []

    named = run_cli(["inventory", "verify", "--org", "demo", "--data-dir", str(demo_dir)], env,
                    cwd=elsewhere)
    assert named.returncode == 0, named.stdout + named.stderr
    absent = run_cli(["inventory", "verify", "--data-dir", str(elsewhere / "nope")], env,
                     cwd=elsewhere)
    assert absent.returncode == 1
    assert "no Mercato database in" in absent.stderr
    assert list(elsewhere.iterdir()) == []
    unknown = run_cli(["import", "products", str(cards), "--org", "nobody"], env, cwd=shop)
    assert unknown.returncode == 1
    assert f"no organization 'nobody' in {(demo_dir / 'mercato.db').resolve()}" in \
        unknown.stderr
