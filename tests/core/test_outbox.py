"""The transactional outbox: recorded with the change, delivered at least once, in order per
resource, with per-handler progress that survives a crashed worker.

Each test gets a fresh, migrated database (SQLite and PostgreSQL), so no other test's events or
handlers interfere. Handlers live in ``tests/core/outbox_handlers.py``; subprocess workers and
servers import them through ``MERCATO_EXTENSIONS``.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from mercato.app import create_app
from mercato.core.db import SYSTEM, Database, tenant_of, utcnow
from mercato.core.outbox import (
    DEAD,
    DONE,
    PENDING,
    Dispatcher,
    Event,
    NewEvent,
    OutboxDelivery,
    OutboxEvent,
    background,
    backoff_seconds,
    handlers,
    record_event,
    record_events,
    subscribe,
    unsubscribe,
)
from mercato.settings import Settings
from tests.conftest import (
    ROOT,
    SECRET,
    Org,
    create_org,
    drop_pg_database,
    free_port,
    make_settings,
    new_database_url,
)
from tests.core import outbox_handlers as h

MERCATO = Path(sys.executable).with_name("mercato")
EXTENSION = "tests.core.outbox_handlers"
T = TypeVar("T")


def _handlers_snapshot() -> dict[str, Any]:
    return {handler.name: handler for handler in handlers()}


# --- fixtures and helpers -------------------------------------------------------------------

@dataclass
class Env:
    backend: str
    url: str
    settings: Settings
    db: Database
    org: Org
    tmp_path: Path

    def create_tables(self, *, unique_event: bool = False) -> None:
        with self.db.engine.begin() as conn:
            h.create_tables(conn, unique_event=unique_event)

    def system(self) -> Session:
        return self.db.session(write=False, tenant=SYSTEM)


@contextmanager
def make_env(backend: str, tmp_path: Path) -> Iterator[Env]:
    url = new_database_url(backend, tmp_path)
    settings = make_settings(url)
    db = Database(url, pool_size=5)
    h.reset()
    # only this file's handlers: a module's (webhooks' fan-out wants "*") would add deliveries
    foreign = [handler for handler in handlers() if handler.func.__module__ != h.__name__]
    for handler in foreign:
        unsubscribe(handler.name)
    try:
        yield Env(backend, url, settings, db, create_org(db, settings), tmp_path)
    finally:
        for handler in foreign:
            subscribe(*handler.event_types, name=handler.name, when=handler.when)(handler.func)
        h.reset()
        db.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


@pytest.fixture
def env(backend: str, tmp_path: Path) -> Iterator[Env]:
    with make_env(backend, tmp_path) as environment:
        yield environment


@pytest.fixture
def pg_env(tmp_path: Path) -> Iterator[Env]:
    """For behaviour only PostgreSQL has (row locks held by others, SKIP LOCKED)."""
    with make_env("postgresql", tmp_path) as environment:
        yield environment


class Processes:
    """Subprocesses started by a test; whatever is still running at teardown is killed."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, args: list[str], environ: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        log_path = self.tmp_path / f"{name}.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen([str(MERCATO), *args], cwd=ROOT, env=environ,
                                    stdout=log_file, stderr=subprocess.STDOUT)
        self.started.append((proc, log_path))
        return proc

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        return next(path for p, path in self.started if p is proc).read_text(errors="replace")

    def check_alive(self, *procs: subprocess.Popen[bytes]) -> None:
        for proc in procs:
            if proc.poll() is not None:
                pytest.fail(f"{proc.args!r} exited with {proc.returncode}:\n{self.log(proc)}")

    def stop(self, proc: subprocess.Popen[bytes], *, timeout: float = 20) -> int:
        """SIGTERM and wait: the exit status of a clean shutdown."""
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"{proc.args!r} ignored SIGTERM for {timeout}s:\n{self.log(proc)}")

    def cleanup(self) -> None:
        for proc, log_path in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            # Shown by pytest only when the test failed.
            print(f"--- {proc.args!r} (pid {proc.pid}, exit {proc.returncode})")
            print(log_path.read_text(errors="replace"))


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.cleanup()


def subprocess_env(env: Env, **extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MERCATO_")}
    environ.update({
        "MERCATO_DATABASE_URL": env.url,
        "MERCATO_SECRET_KEY": SECRET,
        "MERCATO_EXTENSIONS": EXTENSION,
        "MERCATO_LOG_LEVEL": "info",
        "MERCATO_LOG_FORMAT": "json",
        "MERCATO_WORKER_BATCH_SIZE": "5",
        "MERCATO_WORKER_LEASE_SECONDS": "2",
        "MERCATO_WORKER_POLL_INTERVAL_SECONDS": "0.05",
        "MERCATO_MIGRATE_ON_START": "false",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                      if p),
    })
    environ.update(extra)
    return environ


def wait_for(predicate: Callable[[], T], *, what: str, timeout: float = 60,
             alive: Callable[[], None] | None = None) -> T:
    """Poll until ``predicate`` is truthy (bounded); ``alive`` fails fast if a process died."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def record(env: Env, event_type: str, resource_id: str, seq: int, *,
           org_id: str | None = None) -> str:
    with env.db.transaction(tenant=org_id or env.org.id) as session:
        event = record_event(session, event_type, resource_type=h.RESOURCE_TYPE,
                             resource_id=resource_id, data={"seq": seq})
        session.flush()
        return event.id


def record_many(env: Env, event_type: str, *, resources: int, per_resource: int,
                per_transaction: int, seed: int = 7) -> dict[str, list[str]]:
    """Interleave events of many resources over several transactions; resource -> event ids.

    Each resource's events carry ``seq`` 1, 2, 3 … in the order they are recorded.
    """
    plan = [f"res-{i:02d}" for i in range(resources) for _ in range(per_resource)]
    random.Random(seed).shuffle(plan)
    seqs: Counter[str] = Counter()
    expected: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(plan), per_transaction):
        with env.db.transaction(tenant=env.org.id) as session:
            events = []
            for resource_id in plan[start:start + per_transaction]:
                seqs[resource_id] += 1
                events.append(record_event(session, event_type, resource_type=h.RESOURCE_TYPE,
                                           resource_id=resource_id,
                                           data={"seq": seqs[resource_id]}))
            session.flush()
            for event in events:
                expected[event.resource_id].append(event.id)
    return dict(expected)


def deliveries(env: Env, handler: str | None = None) -> list[OutboxDelivery]:
    with env.system() as session:
        stmt = select(OutboxDelivery).order_by(OutboxDelivery.id)
        if handler is not None:
            stmt = stmt.where(OutboxDelivery.handler == handler)
        return list(session.scalars(stmt))


def delivery_of(env: Env, handler: str, event_id: str) -> OutboxDelivery:
    (found,) = [d for d in deliveries(env, handler) if d.event.id == event_id]
    return found


def count_deliveries(env: Env, handler: str, status: str) -> int:
    with env.system() as session:
        return int(session.scalar(
            select(func.count()).select_from(OutboxDelivery)
            .where(OutboxDelivery.handler == handler, OutboxDelivery.status == status)
        ) or 0)


def handled_rows(env: Env, handler: str = h.RECORDER) -> list[Any]:
    """Committed handler effects, in the order they were written."""
    with env.db.engine.connect() as conn:
        return list(conn.execute(
            text(f"SELECT event_id, resource_id, seq, pid FROM {h.HANDLED} "
                 "WHERE handler = :handler ORDER BY id"), {"handler": handler}))


def invocation_rows(env: Env) -> list[Any]:
    with env.db.engine.connect() as conn:
        return list(conn.execute(
            text(f"SELECT event_id, resource_id, seq, previous_seq, pid FROM {h.INVOCATIONS} "
                 "ORDER BY id")))


def count_handled(env: Env) -> int:
    with env.db.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {h.HANDLED}")).scalar_one())


def make_due(env: Env) -> None:
    """Skip the backoff wait: make every pending retry due now (time travel, not a mock)."""
    with env.db.transaction(tenant=SYSTEM) as session:
        session.execute(
            update(OutboxDelivery).where(OutboxDelivery.status == PENDING)
            .values(available_at=utcnow() - dt.timedelta(seconds=1)),
            execution_options={"synchronize_session": False},
        )


def seen(handler: str, resource_id: str | None = None) -> list[str]:
    return [e.id for e in h.SEEN[handler] if resource_id in (None, e.resource_id)]


def assert_each_handled_once_in_order(env: Env, expected: dict[str, list[str]]) -> None:
    """Every recorded TICK handled exactly once (effects and raw invocations), in order."""
    all_ids = [event_id for ids in expected.values() for event_id in ids]
    rows = handled_rows(env)
    counts = Counter(row.event_id for row in rows)
    assert set(counts) == set(all_ids), "an event was lost (or one appeared from nowhere)"
    assert [e for e, n in counts.items() if n > 1] == [], "an event was handled twice"
    by_resource: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_resource[row.resource_id].append(row.event_id)
    for resource_id, ids in expected.items():
        assert by_resource[resource_id] == ids, f"{resource_id} handled out of order"
    invocations = invocation_rows(env)
    invoked = Counter(row.event_id for row in invocations)
    assert set(invoked) == set(all_ids)
    assert [e for e, n in invoked.items() if n > 1] == [], "a committed invocation repeated"
    # Each invocation saw exactly its predecessor committed: no gaps, no reordering.
    assert [r for r in invocations if (r.previous_seq or 0) != r.seq - 1] == []


# --- recording and fan-out ------------------------------------------------------------------

def test_event_recorded_in_a_rolled_back_transaction_is_never_delivered(env: Env) -> None:
    env.create_tables()
    def change_that_fails() -> None:
        with env.db.transaction(tenant=env.org.id) as session:
            record_event(session, h.PING, resource_type=h.RESOURCE_TYPE, resource_id="r1",
                         data={"seq": 1})
            session.flush()
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        change_that_fails()
    committed = record(env, h.PING, "r1", 2)

    assert Dispatcher(env.db).drain() == 2  # the committed event, once per handler
    assert seen(h.ALPHA) == [committed]
    assert seen(h.BETA) == [committed]
    with env.system() as session:
        assert list(session.scalars(select(OutboxEvent.id))) == [committed]
    assert Dispatcher(env.db).drain() == 0


def test_committed_event_is_delivered_once_to_every_subscribed_handler(env: Env) -> None:
    env.create_tables()
    event_id = record(env, h.PING, "r1", 1)
    rows = deliveries(env)
    assert sorted(d.handler for d in rows) == [h.ALPHA, h.BETA]  # one delivery per subscriber
    assert {d.status for d in rows} == {PENDING}

    assert Dispatcher(env.db).drain() == 2
    assert Dispatcher(env.db).drain() == 0
    assert seen(h.ALPHA) == [event_id]
    assert seen(h.BETA) == [event_id]
    assert [d.status for d in deliveries(env)] == [DONE, DONE]
    assert [r.event_id for r in handled_rows(env, h.ALPHA)] == [event_id]
    assert [r.event_id for r in handled_rows(env, h.BETA)] == [event_id]


def test_a_worker_without_a_handler_leaves_its_deliveries_for_a_worker_that_has_it(
    env: Env,
) -> None:
    """A rolling deploy: an old worker must not fail deliveries for a handler it lacks."""
    env.create_tables()
    event_id = record(env, h.PING, "r1", 1)
    beta = _handlers_snapshot()[h.BETA]
    unsubscribe(h.BETA)
    try:
        assert Dispatcher(env.db).drain() == 1  # alpha only
        assert count_deliveries(env, h.BETA, PENDING) == 1
        assert delivery_of(env, h.BETA, event_id).attempts == 0
    finally:
        subscribe(h.PING, name=h.BETA)(beta.func)
    assert Dispatcher(env.db).drain() == 1
    assert seen(h.BETA) == [event_id]


def test_handler_progress_is_separate_so_a_failing_handler_neither_blocks_nor_redoes_another(
    env: Env,
) -> None:
    env.create_tables()
    first = record(env, h.PING, "r1", 1)
    second = record(env, h.PING, "r1", 2)
    h.FAILURES[(h.BETA, first)] = 2
    dispatcher = Dispatcher(env.db)

    dispatcher.drain()
    # Alpha went through both events while beta failed on the first and holds its own chain.
    assert seen(h.ALPHA) == [first, second]
    assert seen(h.BETA) == [first]
    assert delivery_of(env, h.ALPHA, second).status == DONE
    assert delivery_of(env, h.BETA, first).status == PENDING
    assert delivery_of(env, h.BETA, second).attempts == 0
    assert handled_rows(env, h.BETA) == []  # the failed attempt's effects rolled back

    for _ in range(2):  # one more failure, then success
        make_due(env)
        dispatcher.drain()

    assert seen(h.BETA) == [first, first, first, second]
    assert seen(h.ALPHA) == [first, second], "beta's retries must not redeliver alpha's events"
    assert [r.event_id for r in handled_rows(env, h.BETA)] == [first, second]
    assert [r.event_id for r in handled_rows(env, h.ALPHA)] == [first, second]
    assert delivery_of(env, h.BETA, first).attempts == 3
    assert {d.status for d in deliveries(env)} == {DONE}


def test_handler_session_is_scoped_to_the_events_organization(env: Env) -> None:
    env.create_tables()
    other = create_org(env.db, env.settings)
    scopes: list[tuple[str, str | None, str | None]] = []

    def note_scope(session: Session, event: Event) -> None:
        rls = None
        if env.backend == "postgresql":
            rls = session.execute(
                text("SELECT current_setting('mercato.organization_id', true)")).scalar()
        scopes.append((event.organization_id, tenant_of(session), rls))

    h.HOOKS[h.ALPHA] = note_scope
    record(env, h.PING, "r1", 1)
    record(env, h.PING, "r1", 1, org_id=other.id)

    Dispatcher(env.db).drain()

    assert sorted(org for org, _, _ in scopes) == sorted([env.org.id, other.id])
    for org_id, tenant, rls in scopes:
        assert tenant == org_id
        if env.backend == "postgresql":
            assert rls == org_id


# --- order, retries, dead letters -----------------------------------------------------------

def test_dispatcher_delivers_each_resources_events_in_recorded_order(env: Env) -> None:
    env.create_tables()
    expected = record_many(env, h.PING, resources=6, per_resource=15, per_transaction=13)
    # Two dispatchers with small batches take turns, like two workers sharing the backlog.
    workers = [Dispatcher(env.db, batch_size=3), Dispatcher(env.db, batch_size=5)]
    for _ in range(1000):
        if sum(worker.run_once() for worker in workers) == 0:
            break

    for handler in (h.ALPHA, h.BETA):
        for resource_id, ids in expected.items():
            assert seen(handler, resource_id) == ids, f"{handler} saw {resource_id} out of order"
        committed = [r.event_id for r in handled_rows(env, handler)]
        assert sorted(committed) == sorted(i for ids in expected.values() for i in ids)
    assert count_deliveries(env, h.ALPHA, DONE) == count_deliveries(env, h.BETA, DONE) == 90


def test_events_recorded_in_bulk_reach_every_handler_in_recorded_order(env: Env) -> None:
    """``record_events`` (bulk imports) numbers its rows itself (from the sequence on
    PostgreSQL, after the largest position on SQLite): each delivery points at its own event,
    and positions follow the order the events were given in."""
    env.create_tables()
    plan = [f"res-{i:02d}" for i in range(5) for _ in range(12)]
    random.Random(3).shuffle(plan)
    seqs: Counter[str] = Counter()
    for start in range(0, len(plan), 25):
        with env.db.transaction(tenant=env.org.id) as session:
            batch = []
            for resource_id in plan[start:start + 25]:
                seqs[resource_id] += 1
                batch.append(NewEvent(h.PING, h.RESOURCE_TYPE, resource_id,
                                      {"seq": seqs[resource_id]}))
            record_events(session, env.org.id, batch)
    with env.system() as session:
        rows = session.execute(select(OutboxEvent.resource_id, OutboxEvent.data)
                               .order_by(OutboxEvent.position)).all()
        assert [row.resource_id for row in rows] == plan
        pointed = session.execute(select(OutboxDelivery.resource_key, OutboxEvent.resource_id)
                                  .join(OutboxEvent)).all()
        assert len(pointed) == 2 * len(plan)
        assert all(key == f"{h.RESOURCE_TYPE}:{rid}" for key, rid in pointed)
    worker = Dispatcher(env.db, batch_size=7)
    while worker.run_once():
        pass
    for handler in (h.ALPHA, h.BETA):
        for resource_id, count in seqs.items():
            assert [e.data["seq"] for e in h.SEEN[handler] if e.resource_id == resource_id] \
                == list(range(1, count + 1))


RECORDER = """
import sys
import mercato.tenancy.models  # what outbox rows refer to
from mercato.core.db import Database
from mercato.core.outbox import NewEvent, record_event, record_events
from tests.core import outbox_handlers as h

url, org, tag = sys.argv[1:4]
db = Database(url)
for n in range(12):
    with db.transaction(tenant=org) as session:
        if n % 3 == 2:
            record_event(session, h.PING, resource_type=h.RESOURCE_TYPE,
                         resource_id=f"{tag}-{n}", data={"n": n})
        else:
            record_events(session, org, [NewEvent(h.PING, h.RESOURCE_TYPE, f"{tag}-{n}",
                                                  {"n": n, "i": i}) for i in range(15)])
db.dispose()
"""


def test_processes_recording_events_at_once_never_share_a_position(env: Env) -> None:
    """Bulk recording numbers its events itself (SQLite: after the largest position, under the
    write lock; PostgreSQL: from the sequence). Four processes of two organizations recording
    at once, in bulk and one by one, lose no event, and every delivery points at its own
    event."""
    env.create_tables()
    other = create_org(env.db, env.settings)  # positions are shared by every tenant
    environ = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", RECORDER, env.url,
                               (env.org.id, other.id)[k % 2], f"p{k}"],
                              cwd=ROOT, env=environ, stderr=subprocess.PIPE)
             for k in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    per_process = 8 * 15 + 4
    with env.system() as session:
        events = session.execute(select(OutboxEvent.position, OutboxEvent.resource_id,
                                        OutboxEvent.data)).all()
        assert len(events) == len({e.position for e in events}) == 4 * per_process
        for k in range(4):
            for n in range(12):
                mine = sorted((e.position, e.data.get("i", 0)) for e in events
                              if e.resource_id == f"p{k}-{n}")
                assert [i for _, i in mine] == ([0] if n % 3 == 2 else list(range(15)))
        pointed = session.execute(select(OutboxDelivery.resource_key, OutboxEvent.resource_id)
                                  .join(OutboxEvent)).all()
        assert len(pointed) == 2 * 4 * per_process
        assert all(key == f"{h.RESOURCE_TYPE}:{rid}" for key, rid in pointed)


def test_retried_event_holds_back_later_events_of_its_resource_so_order_survives_failure(
    env: Env,
) -> None:
    env.create_tables()
    ids = [record(env, h.PING, "r1", seq) for seq in (1, 2, 3)]
    h.FAILURES[(h.ALPHA, ids[0])] = 1
    other = record(env, h.PING, "r2", 1)
    dispatcher = Dispatcher(env.db)

    dispatcher.drain()
    assert seen(h.ALPHA, "r1") == ids[:1]  # failed; 2 and 3 wait behind it
    assert seen(h.ALPHA, "r2") == [other]  # another resource is not held back
    assert [delivery_of(env, h.ALPHA, i).status for i in ids] == [PENDING] * 3

    make_due(env)
    dispatcher.drain()
    assert seen(h.ALPHA, "r1") == [ids[0], *ids]
    assert [r.event_id for r in handled_rows(env, h.ALPHA) if r.resource_id == "r1"] == ids


def test_failing_handler_is_retried_with_backoff_then_dead_lettered_without_blocking_others(
    env: Env,
) -> None:
    env.create_tables()
    dispatcher = Dispatcher(env.db, max_attempts=3)
    doomed = record(env, h.PING, "bad", 1)
    later = record(env, h.PING, "bad", 2)
    good = record(env, h.PING, "good", 1)
    h.FAILURES[(h.BETA, doomed)] = h.ALWAYS

    delays: list[float] = []
    for attempt in (1, 2, 3):
        before = utcnow()
        dispatcher.drain()
        row = delivery_of(env, h.BETA, doomed)
        assert row.attempts == attempt
        assert row.last_error == "RuntimeError: planned failure of outbox_test.beta on bad/1"
        if attempt < 3:
            assert row.status == PENDING
            delays.append((row.available_at - before).total_seconds())
            assert dispatcher.drain() == 0  # backing off: not retried at once
            assert seen(h.BETA, "bad") == [doomed] * attempt
            assert delivery_of(env, h.BETA, later).attempts == 0  # held back behind it
            make_due(env)
        else:
            assert row.status == DEAD

    # Backoff grows: about 2s then 4s, with jitter of up to half.
    assert 1 <= delays[0] <= 2.5
    assert 2 <= delays[1] <= 4.5
    # Meanwhile the other resource, and the other handler, were never held back.
    assert seen(h.BETA, "good") == [good]
    assert seen(h.ALPHA, "bad") == [doomed, later]
    assert seen(h.ALPHA, "good") == [good]
    # The dead delivery keeps its error and no longer blocks the resource's later event.
    assert seen(h.BETA, "bad") == [doomed, doomed, doomed, later]
    assert delivery_of(env, h.BETA, later).status == DONE
    assert sorted(r.event_id for r in handled_rows(env, h.BETA)) == sorted([good, later])
    make_due(env)
    assert dispatcher.drain() == 0  # dead stays dead
    assert delivery_of(env, h.BETA, doomed).status == DEAD


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    for attempts, low, high in [(1, 1, 2), (2, 2, 4), (3, 4, 8), (8, 128, 256)]:
        assert all(low <= backoff_seconds(attempts) <= high for _ in range(50))
    for attempts in (9, 30, 2000):  # huge attempt counts must not overflow
        assert 150 <= backoff_seconds(attempts) <= 300


def test_delivery_that_cannot_be_loaded_for_a_moment_is_retried_not_dead_lettered(
    pg_env: Env,
) -> None:
    # PostgreSQL only: needs PostgreSQL's table locks and lock_timeout to fail a load on cue
    env = pg_env
    env.create_tables()
    event_id = record(env, h.PING, "r1", 1)
    impatient = Database(f"{env.url}?options=-c%20lock_timeout%3D200", pool_size=2)
    try:
        dispatcher = Dispatcher(impatient, max_attempts=5)
        claimed = dispatcher.claim()
        assert len(claimed) == 2
        locker = env.db.session(write=True, tenant=SYSTEM)
        try:  # e.g. a migration altering the table: loading the delivery times out
            locker.execute(text("LOCK TABLE outbox_events IN ACCESS EXCLUSIVE MODE"))
            assert dispatcher.deliver(claimed[0]) is False
        finally:
            locker.rollback()
            locker.close()
        failed = next(d for d in deliveries(env) if d.id == claimed[0])
        assert failed.status == PENDING, "a transient failure must not dead-letter at once"
        assert failed.attempts == 1
        assert "LockNotAvailable" in (failed.last_error or "")
        make_due(env)
        with impatient.transaction(tenant=SYSTEM) as session:  # let the other lease lapse too
            session.execute(update(OutboxDelivery).values(lease_until=None))
        assert dispatcher.drain() == 2
    finally:
        impatient.dispose()
    assert seen(h.ALPHA) == seen(h.BETA) == [event_id]


# --- leases and concurrent claims -----------------------------------------------------------

def test_leased_deliveries_are_not_claimed_twice_until_the_lease_expires(env: Env) -> None:
    env.create_tables()
    for resource_id in ("r1", "r2", "r3"):
        record(env, h.PING, resource_id, 1)
    first, second = Dispatcher(env.db, lease_seconds=60), Dispatcher(env.db, lease_seconds=60)

    claimed = first.claim()
    assert len(claimed) == 6
    assert second.claim() == []  # leased to the first worker

    with env.db.transaction(tenant=SYSTEM) as session:  # the first worker's lease runs out
        session.execute(update(OutboxDelivery).values(
            lease_until=utcnow() - dt.timedelta(seconds=1)))
    assert sorted(second.claim()) == sorted(claimed)
    assert all(second.deliver(i) for i in claimed)
    assert not any(first.deliver(i) for i in claimed)  # the stale worker may not deliver
    assert len(h.SEEN[h.ALPHA]) == len(h.SEEN[h.BETA]) == 3
    assert {(d.status, d.attempts) for d in deliveries(env)} == {(DONE, 2)}


def test_worker_whose_lease_lapsed_mid_handler_cannot_commit_a_second_time(
    pg_env: Env,
) -> None:
    # PostgreSQL only: on SQLite a running handler holds the write lock, so no one can reclaim
    env = pg_env
    env.create_tables()
    event_id = record(env, h.PING, "r1", 1)
    slow = Dispatcher(env.db, lease_seconds=60, worker_id="slow")
    fast = Dispatcher(env.db, lease_seconds=60, worker_id="fast")
    alpha_delivery = delivery_of(env, h.ALPHA, event_id).id
    assert alpha_delivery in slow.claim()

    def lease_lapses_then_fast_worker_delivers(session: Session, event: Event) -> None:
        del h.HOOKS[h.ALPHA]
        with env.db.transaction(tenant=SYSTEM) as other:
            other.execute(update(OutboxDelivery).values(
                lease_until=utcnow() - dt.timedelta(seconds=1)))
        assert alpha_delivery in fast.claim()
        assert fast.deliver(alpha_delivery)

    h.HOOKS[h.ALPHA] = lease_lapses_then_fast_worker_delivers
    assert slow.deliver(alpha_delivery) is False  # ran the handler, but could not commit

    assert seen(h.ALPHA) == [event_id, event_id]  # invoked twice: at least once …
    assert [r.event_id for r in handled_rows(env, h.ALPHA)] == [event_id]  # … committed once
    row = delivery_of(env, h.ALPHA, event_id)
    assert (row.status, row.lease_owner, row.last_error) == (DONE, None, None)


def test_claim_skips_rows_another_worker_has_locked_instead_of_waiting(
    pg_env: Env,
) -> None:
    # PostgreSQL only: FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite serializes claims
    env = pg_env
    env.create_tables()
    for resource_id in ("r1", "r2", "r3"):
        for seq in (1, 2):
            record(env, h.PING, resource_id, seq)
    heads = [d.id for d in deliveries(env) if d.event.data["seq"] == 1]
    assert len(heads) == 6  # 3 resources x 2 handlers; the seq 2 deliveries wait behind them

    locker = env.db.session(write=True, tenant=SYSTEM)
    try:  # another worker mid-claim: holds row locks on two chain heads
        locker.execute(select(OutboxDelivery.id).where(OutboxDelivery.id.in_(heads[:2]))
                       .with_for_update())
        result: list[list[int]] = []
        thread = threading.Thread(target=lambda: result.append(Dispatcher(env.db).claim()))
        thread.start()
        thread.join(timeout=15)
        assert not thread.is_alive(), "claim waited on locked rows instead of skipping them"
        assert sorted(result[0]) == sorted(heads[2:])
    finally:
        locker.rollback()
        locker.close()
    assert sorted(Dispatcher(env.db).claim()) == sorted(heads[:2])


# --- real worker processes ------------------------------------------------------------------

def leased_to(env: Env, pid: int) -> list[int]:
    """Deliveries a worker process has claimed and not finished."""
    with env.system() as session:
        return list(session.scalars(
            select(OutboxDelivery.id).where(
                OutboxDelivery.status == PENDING,
                OutboxDelivery.lease_owner.like(f"%:{pid}:%"),
            )))


def kill_mid_batch(env: Env, processes: Processes, proc: subprocess.Popen[bytes], *,
                   after: int, total: int) -> list[int]:
    """SIGKILL ``proc`` once ``after`` events are handled, while it holds a claimed batch.

    The worker is frozen (SIGSTOP) to look at its claims, so the kill provably lands
    mid-batch: claimed deliveries are still pending under its lease. Returns them.
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        processes.check_alive(proc)
        if count_handled(env) >= after:
            os.kill(proc.pid, signal.SIGSTOP)
            claimed = leased_to(env, proc.pid)
            handled = count_handled(env)
            if claimed and handled < total:
                proc.kill()
                proc.wait(timeout=10)
                return claimed
            assert handled < total, "the worker finished before it could be killed"
            os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.01)
    pytest.fail("never caught the worker mid-batch")


@pytest.mark.slow
@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotent"])
def test_worker_killed_mid_batch_loses_nothing_and_handles_each_event_once_in_order(
    env: Env, processes: Processes, idempotent: bool
) -> None:
    env.create_tables(unique_event=idempotent)
    expected = record_many(env, h.TICK, resources=10, per_resource=30, per_transaction=50)
    total = 300
    environ = subprocess_env(env, **{h.DELAY_ENV: "3"})

    doomed = processes.start(["worker"], environ, "worker-1")
    claimed = kill_mid_batch(env, processes, doomed, after=total // 5, total=total)
    assert doomed.returncode == -signal.SIGKILL
    handled_before = {r.event_id for r in handled_rows(env)}
    assert 0 < len(handled_before) < total
    assert all(d.status == PENDING for d in deliveries(env) if d.id in claimed)

    survivor = processes.start(["worker"], environ, "worker-2")
    wait_for(lambda: count_deliveries(env, h.RECORDER, DONE) == total,
             what="the second worker to finish", alive=lambda: processes.check_alive(survivor))
    assert processes.stop(survivor) == 0

    assert_each_handled_once_in_order(env, expected)
    rows = deliveries(env, h.RECORDER)
    assert {d.status for d in rows} == {DONE}
    # The killed worker's claimed batch was redelivered (claimed again after its lease ran out)
    # by the survivor; what the killed worker had committed was not handled again.
    redelivered = {d.event.id for d in rows if d.id in claimed}
    assert all(d.attempts == 2 for d in rows if d.id in claimed)
    by_event = {r.event_id: r.pid for r in handled_rows(env)}
    assert {by_event[e] for e in redelivered} == {survivor.pid}
    assert {by_event[e] for e in handled_before} == {doomed.pid}
    assert all(d.attempts == 1 for d in rows if d.id not in claimed)


@pytest.mark.slow
def test_four_workers_drain_the_backlog_each_event_once_in_order_per_resource(
    env: Env, processes: Processes
) -> None:
    env.create_tables()
    # No crash here, so a long lease: any second claim of a delivery would be a bug.
    environ = subprocess_env(env, MERCATO_WORKER_BATCH_SIZE="20",
                             MERCATO_WORKER_LEASE_SECONDS="30")
    workers = [processes.start(["worker"], environ, f"worker-{i}") for i in range(4)]

    def all_alive() -> None:
        processes.check_alive(*workers)

    wait_for(lambda: all("worker_started" in processes.log(w) for w in workers),
             what="four workers to start", alive=all_alive)
    # Recorded while the workers are already polling, so they compete for every batch.
    expected = record_many(env, h.TICK, resources=20, per_resource=50, per_transaction=100)
    total = 1000
    wait_for(lambda: count_deliveries(env, h.RECORDER, DONE) == total,
             what="the workers to drain 1000 events", alive=all_alive)

    for worker in workers:  # SIGTERM: each finishes its batch and exits cleanly
        assert processes.stop(worker) == 0
        assert "worker_stopped" in processes.log(worker)
    assert_each_handled_once_in_order(env, expected)
    assert {d.attempts for d in deliveries(env, h.RECORDER)} == {1}  # claimed once each
    pids = Counter(r.pid for r in handled_rows(env))
    assert set(pids) <= {w.pid for w in workers}
    if env.backend == "postgresql":  # SKIP LOCKED lets them work side by side
        assert len(pids) > 1, f"one worker did everything: {pids}"


@pytest.mark.slow
def test_worker_once_delivers_everything_due_and_exits(env: Env, processes: Processes) -> None:
    env.create_tables()
    expected = record_many(env, h.TICK, resources=4, per_resource=5, per_transaction=7)
    proc = processes.start(["worker", "--once"], subprocess_env(env), "worker-once")
    assert proc.wait(timeout=60) == 0, processes.log(proc)
    assert "delivered 20" in processes.log(proc)
    assert_each_handled_once_in_order(env, expected)


# --- the dispatcher inside the server -------------------------------------------------------

def post_tick(client: httpx.Client | TestClient, org: Org, resource_id: str, seq: int,
              *, fail: bool = False) -> httpx.Response:
    return client.post("/api/v1/outbox-test/ticks", headers=org.headers,
                       json={"resource_id": resource_id, "seq": seq, "fail": fail})


def test_app_with_run_worker_delivers_events_recorded_by_requests_and_stops_cleanly(
    env: Env,
) -> None:
    env.create_tables()
    settings = make_settings(env.url, run_worker=True, extensions=[EXTENSION],
                             worker_poll_interval_seconds=0.05)
    db = Database(env.url, pool_size=5)
    try:
        app = create_app(settings, db)
        before = set(threading.enumerate())
        with TestClient(app) as client:
            (dispatcher,) = [t for t in set(threading.enumerate()) - before
                             if t.name == "mercato-dispatcher"]
            failed = post_tick(client, env.org, "r1", 1, fail=True)
            assert failed.status_code == 409, failed.text  # rolled back with its event
            ok = [post_tick(client, env.org, "r1", seq) for seq in (1, 2, 3)]
            assert [r.status_code for r in ok] == [201] * 3, [r.text for r in ok]
            wait_for(lambda: count_deliveries(env, h.RECORDER, DONE) == 3,
                     what="the in-process dispatcher", timeout=30)
        assert not dispatcher.is_alive()  # lifespan shutdown stopped it
    finally:
        db.dispose()
    assert_each_handled_once_in_order(env, {"r1": [r.json()["id"] for r in ok]})
    # the failed request's event was never committed (create_app may have subscribed other
    # modules' handlers, webhooks' fan-out to every event: count this file's handler's)
    assert len(deliveries(env, h.RECORDER)) == 3


@pytest.mark.slow
def test_mercato_serve_with_worker_delivers_events_and_shuts_down_cleanly(
    env: Env, processes: Processes
) -> None:
    env.create_tables()
    port = free_port()
    server = processes.start(["serve", "--with-worker", "--no-migrate", "--port", str(port)],
                             subprocess_env(env), "serve")
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, what="the server", alive=lambda: processes.check_alive(server))
    with httpx.Client(base_url=base, timeout=10) as client:
        assert post_tick(client, env.org, "r1", 1, fail=True).status_code == 409
        ok = [post_tick(client, env.org, "r1", seq) for seq in (1, 2)]
    assert [r.status_code for r in ok] == [201, 201], [r.text for r in ok]
    wait_for(lambda: count_deliveries(env, h.RECORDER, DONE) == 2,
             what="the server's dispatcher", alive=lambda: processes.check_alive(server))

    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught (exit status -15).
    assert processes.stop(server) in (0, -signal.SIGTERM)
    log = processes.log(server)
    assert "worker_started" in log
    assert "worker_stopped" in log
    assert_each_handled_once_in_order(env, {"r1": [r.json()["id"] for r in ok]})


def test_the_worker_runs_background_loops_on_their_own_threads_and_stops_them(env: Env) -> None:
    """A loop that waits on the network (channel pushes) runs beside event delivery, so a
    loop that is busy never delays it, and it ends when the worker does."""
    from mercato.core import outbox

    env.create_tables()
    started, busy, ended = threading.Event(), threading.Event(), threading.Event()

    def slow_loop(db: Any, stop: threading.Event) -> None:
        started.set()
        busy.wait(10)  # blocked, as on a throttled platform
        stop.wait()
        ended.set()

    background(name="test.slow")(slow_loop)
    stop = threading.Event()
    worker = threading.Thread(target=Dispatcher(env.db, poll_interval=0.02).run_forever,
                              args=(stop,))
    try:
        worker.start()
        assert started.wait(10)
        committed = record(env, h.PING, "bg", 1)
        wait_for(lambda: seen(h.ALPHA) == [committed], what="delivery beside the loop",
                 timeout=10)
        assert not ended.is_set()
        busy.set()
    finally:
        stop.set()
        busy.set()
        worker.join(timeout=15)
        outbox._background.pop("test.slow", None)
    assert ended.is_set()
    assert not worker.is_alive()


def test_a_handler_s_when_keeps_organizations_with_nothing_to_do_from_getting_deliveries(
        env: Env) -> None:
    """A catch-all subscriber with ``when`` costs an organization that has nothing for it no
    delivery (one or many events), asked once per transaction; the next transaction asks
    again."""
    env.create_tables()
    wanted: set[str] = set()
    asked: list[str] = []

    def when(session: Session, organization_id: str) -> bool:
        asked.append(organization_id)
        return organization_id in wanted

    name = "tests.when-handler"
    subscribe("*", name=name, when=when)(lambda session, event: None)
    try:
        def recorded(org_id: str, count: int) -> None:
            with env.db.transaction(tenant=org_id) as session:
                for n in range(count):
                    record_event(session, h.PING, resource_type=h.RESOURCE_TYPE,
                                 resource_id=f"w-{n}", data={})
                record_events(session, org_id, [NewEvent(h.PING, h.RESOURCE_TYPE, "bulk", {})])

        recorded(env.org.id, 3)
        assert asked == [env.org.id]  # once for the transaction's four events
        wanted.add(env.org.id)
        recorded(env.org.id, 2)
        assert asked == [env.org.id, env.org.id]
        with env.system() as session:
            mine = session.scalar(select(func.count()).select_from(OutboxDelivery)
                                  .where(OutboxDelivery.handler == name))
        assert mine == 3  # the second transaction's two events and its bulk one
    finally:
        unsubscribe(name)
