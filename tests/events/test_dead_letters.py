"""Dead-lettered event deliveries: a handler that fails every attempt leaves a dead letter that
staff (API, their organization's only) and the operator (``mercato events``) can list and
replay; a replayed delivery is delivered once its handler works again."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mercato.core import dead_letters
from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.errors import Conflict
from mercato.core.ids import new_id
from mercato.core.outbox import (
    DEAD,
    DONE,
    PENDING,
    Dispatcher,
    Event,
    OutboxDelivery,
    record_event,
    subscribe,
    unsubscribe,
)
from mercato.settings import Settings
from tests.conftest import Org, create_org, staff_token
from tests.test_cli import cli_env, run_cli

EVENT = "dead_letter_test.happened"
HANDLER = "tests.events.flaky"
OTHER = "tests.events.steady"
MAX_ATTEMPTS = 3
BASE = "/api/v1/events/dead-letters"


@dataclass
class Flaky:
    """A handler that fails while ``failing`` and notes what it delivered."""

    failing: bool = True
    delivered: list[str] = field(default_factory=list)

    def __call__(self, session: Session, event: Event) -> None:
        if self.failing:
            raise RuntimeError(f"receiver down for {event.resource_id}")
        self.delivered.append(event.id)


@pytest.fixture
def flaky() -> Iterator[Flaky]:
    handler = Flaky()
    steady: list[str] = []
    subscribe(EVENT, name=HANDLER)(handler)
    subscribe(EVENT, name=OTHER)(lambda session, event: steady.append(event.id))
    yield handler
    unsubscribe(HANDLER)
    unsubscribe(OTHER)


def record(db: Database, org: Org, resource_id: str | None = None) -> str:
    with db.transaction(tenant=org.id) as session:
        event = record_event(session, EVENT, resource_type="widget",
                             resource_id=resource_id or new_id(), data={"n": 1})
        session.flush()
        return event.id


def deliveries(db: Database, event_id: str, handler: str = HANDLER) -> list[OutboxDelivery]:
    with db.session(write=False, tenant=SYSTEM) as session:
        rows = list(session.scalars(select(OutboxDelivery).where(
            OutboxDelivery.handler == handler)))
        return [row for row in rows if row.event.id == event_id]


def fail_until_dead(db: Database) -> None:
    """Run the handler's attempts one after another, each made due at once (no waiting out the
    backoff), until the dispatcher gives up."""
    dispatcher = Dispatcher(db, max_attempts=MAX_ATTEMPTS)
    for _ in range(MAX_ATTEMPTS):
        with db.transaction(tenant=SYSTEM) as session:
            session.execute(update(OutboxDelivery)
                            .where(OutboxDelivery.handler == HANDLER,
                                   OutboxDelivery.status == PENDING)
                            .values(available_at=utcnow()))
        dispatcher.drain()


def test_a_handler_failing_every_attempt_is_dead_lettered_listed_replayed_then_delivered(
    db: Database, client: TestClient, org: Org, flaky: Flaky
) -> None:
    event_id = record(db, org)
    fail_until_dead(db)
    row, = deliveries(db, event_id)
    assert (row.status, row.attempts) == (DEAD, MAX_ATTEMPTS)
    other, = deliveries(db, event_id, OTHER)
    assert other.status == DONE, "one handler's failure holds back no other handler"

    listed = client.get(BASE, headers=org.headers)
    assert listed.status_code == 200, listed.text
    letter, = [item for item in listed.json()["data"] if item["event_id"] == event_id]
    assert letter["id"] == row.id
    assert letter["status"] == "dead"
    assert (letter["event_type"], letter["resource_type"], letter["handler"]) == (
        EVENT, "widget", HANDLER)
    assert letter["attempts"] == MAX_ATTEMPTS
    assert letter["last_error"].startswith("RuntimeError: receiver down for")
    assert letter["dead_at"] is not None
    assert letter["event_created_at"] is not None

    by_handler = client.get(BASE, headers=org.headers, params={"handler": HANDLER})
    assert [i["id"] for i in by_handler.json()["data"]] == [row.id]
    assert client.get(BASE, headers=org.headers,
                      params={"handler": OTHER}).json()["data"] == []
    assert client.get(BASE, headers=org.headers,
                      params={"type": "order.paid"}).json()["data"] == []
    assert [i["id"] for i in client.get(BASE, headers=org.headers,
                                        params={"type": EVENT}).json()["data"]] == [row.id]

    # the receiver is back: a replay puts the delivery back in line, once
    flaky.failing = False
    replayed = client.post(f"{BASE}/{row.id}/replay", headers=org.headers)
    assert replayed.status_code == 200, replayed.text
    assert (replayed.json()["status"], replayed.json()["attempts"]) == ("pending", 0)
    again = client.post(f"{BASE}/{row.id}/replay", headers=org.headers)
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "conflict"
    assert client.get(BASE, headers=org.headers).json()["data"] == []

    Dispatcher(db, max_attempts=MAX_ATTEMPTS).drain()
    assert flaky.delivered == [event_id]
    row, = deliveries(db, event_id)
    assert row.status == DONE
    done = client.post(f"{BASE}/{row.id}/replay", headers=org.headers)
    assert done.status_code == 409, "a delivered event is not replayed"


def test_a_replay_that_fails_again_is_dead_again_and_replayable_again(
    db: Database, client: TestClient, org: Org, flaky: Flaky
) -> None:
    event_id = record(db, org)
    fail_until_dead(db)
    row, = deliveries(db, event_id)
    assert client.post(f"{BASE}/{row.id}/replay", headers=org.headers).status_code == 200
    fail_until_dead(db)
    row, = deliveries(db, event_id)
    assert (row.status, row.attempts) == (DEAD, MAX_ATTEMPTS)
    assert client.post(f"{BASE}/{row.id}/replay", headers=org.headers).status_code == 200


def test_many_replays_of_one_dead_letter_at_once_put_it_back_once_and_it_is_delivered_once(
    db: Database, org: Org, flaky: Flaky
) -> None:
    event_id = record(db, org)
    fail_until_dead(db)
    row, = deliveries(db, event_id)
    start = threading.Barrier(8)

    def replay() -> str:
        start.wait()
        try:
            with db.transaction(tenant=org.id) as session:
                dead_letters.replay(session, row.id)
            return "replayed"
        except Conflict:
            return "conflict"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: replay(), range(8)))
    assert sorted(outcomes) == ["conflict"] * 7 + ["replayed"]
    flaky.failing = False
    Dispatcher(db).drain()
    assert flaky.delivered == [event_id]


def test_one_organizations_dead_letters_are_invisible_and_404_to_another(
    db: Database, client: TestClient, org: Org, other_org: Org, flaky: Flaky
) -> None:
    event_id = record(db, org)
    fail_until_dead(db)
    row, = deliveries(db, event_id)
    assert client.get(BASE, headers=other_org.headers).json()["data"] == []
    theirs = client.post(f"{BASE}/{row.id}/replay", headers=other_org.headers)
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "not_found"
    bulk = client.post(f"{BASE}/replay", headers=other_org.headers, json={})
    assert bulk.json() == {"replayed": 0, "ids": []}
    row, = deliveries(db, event_id)
    assert row.status == DEAD, "another organization's replay changed nothing"
    missing = client.post(f"{BASE}/{2**62}/replay", headers=org.headers)
    assert missing.status_code == 404


def test_bulk_replay_takes_the_organizations_dead_letters_of_a_handler(
    db: Database, client: TestClient, org: Org, other_org: Org, flaky: Flaky
) -> None:
    mine = [record(db, org) for _ in range(3)]
    theirs = record(db, other_org)
    fail_until_dead(db)
    ids = sorted(deliveries(db, e)[0].id for e in mine)

    none = client.post(f"{BASE}/replay", headers=org.headers, json={"handler": OTHER})
    assert none.json() == {"replayed": 0, "ids": []}
    bulk = client.post(f"{BASE}/replay", headers=org.headers, json={"handler": HANDLER})
    assert bulk.status_code == 200, bulk.text
    assert bulk.json() == {"replayed": 3, "ids": ids}
    assert deliveries(db, theirs)[0].status == DEAD, "only the caller's organization's"

    flaky.failing = False
    Dispatcher(db).drain()
    assert sorted(flaky.delivered) == sorted(mine)
    assert client.post(f"{BASE}/replay", headers=org.headers).json()["replayed"] == 0


def test_bad_filters_are_a_problem_and_change_nothing(
    db: Database, client: TestClient, org: Org, flaky: Flaky
) -> None:
    event_id = record(db, org)
    fail_until_dead(db)
    unknown = client.post(f"{BASE}/replay", headers=org.headers, json={"handlers": HANDLER})
    assert unknown.status_code == 422
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert client.get(BASE, headers=org.headers, params={"limit": 0}).status_code == 422
    assert client.post(f"{BASE}/0/replay", headers=org.headers).status_code == 422
    assert deliveries(db, event_id)[0].status == DEAD


def test_listing_pages_with_a_cursor(
    db: Database, client: TestClient, org: Org, flaky: Flaky
) -> None:
    events = [record(db, org) for _ in range(5)]
    fail_until_dead(db)
    first = client.get(BASE, headers=org.headers, params={"limit": 2}).json()
    seen = [i["event_id"] for i in first["data"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(BASE, headers=org.headers, params={"limit": 2, "cursor": cursor})
        seen += [i["event_id"] for i in page.json()["data"]]
        cursor = page.json()["next_cursor"]
    assert seen == list(reversed(events)), "newest first, each once"


def test_staff_without_the_events_permissions_may_neither_list_nor_replay(
    db: Database, client: TestClient, org: Org, flaky: Flaky
) -> None:
    event_id = record(db, org)
    fail_until_dead(db)
    row, = deliveries(db, event_id)
    headers = {"Authorization": f"Bearer {staff_token(client, org, 'fulfillment')}"}
    assert client.get(BASE, headers=headers).status_code == 403
    assert client.post(f"{BASE}/{row.id}/replay", headers=headers).status_code == 403
    assert client.post(f"{BASE}/replay", headers=headers).status_code == 403
    manager = {"Authorization": f"Bearer {staff_token(client, org, 'manager')}"}
    assert client.get(BASE, headers=manager).status_code == 200
    assert client.post(f"{BASE}/{row.id}/replay", headers=manager).status_code == 200


def test_the_operator_lists_and_replays_dead_letters_from_the_command_line(
    database_url: str, db: Database, settings: Settings, client: TestClient, flaky: Flaky
) -> None:
    org, other = create_org(db, settings), create_org(db, settings)
    mine, theirs = record(db, org), record(db, other)
    fail_until_dead(db)
    my_id, their_id = deliveries(db, mine)[0].id, deliveries(db, theirs)[0].id
    env = cli_env(database_url)

    listed = run_cli(["events", "dead", "--json"], env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    by_id = {letter["id"]: letter for letter in json.loads(listed.stdout)}
    assert {my_id, their_id} <= set(by_id), "every organization's, without --org"
    assert by_id[my_id]["organization"] == org.slug
    assert (by_id[my_id]["handler"], by_id[my_id]["event_type"]) == (HANDLER, EVENT)
    assert by_id[my_id]["attempts"] == MAX_ATTEMPTS

    only = run_cli(["events", "dead", "--org", org.slug, "--json"], env)
    assert [letter["id"] for letter in json.loads(only.stdout)] == [my_id]
    text = run_cli(["events", "dead", "--org", org.slug], env)
    assert str(my_id) in text.stdout
    assert "receiver down" in text.stdout
    assert "1 dead letter" in text.stdout

    # an id of another organization than --org's is no match: exit 1, and it stays dead
    wrong = run_cli(["events", "replay", str(their_id), "--org", org.slug], env)
    assert wrong.returncode == 1
    assert f"no dead letter {their_id}" in wrong.stderr
    assert deliveries(db, theirs)[0].status == DEAD

    flaky.failing = False
    replayed = run_cli(["events", "replay", str(my_id)], env)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert f"replayed {my_id}" in replayed.stdout
    twice = run_cli(["events", "replay", str(my_id)], env)
    assert twice.returncode == 1
    assert "not dead" in twice.stderr

    everything = run_cli(["events", "replay", "--all", "--org", other.slug], env)
    assert everything.returncode == 0, everything.stdout + everything.stderr
    # (stdout also has the log's JSON lines: MERCATO_LOG_LEVEL=info)
    assert everything.stdout.splitlines()[-1] == f"replayed 1 dead letter: {their_id}"
    Dispatcher(db).drain()
    assert sorted(flaky.delivered) == sorted([mine, theirs])
    nothing = run_cli(["events", "replay", "--all", "--org", other.slug], env)
    assert nothing.returncode == 0
    assert nothing.stdout.splitlines()[-1] == "replayed 0 dead letters"

    assert run_cli(["events", "replay"], env).returncode == 1, "no ids nor --all: refused"
    unknown_org = run_cli(["events", "dead", "--org", "no-such-org"], env)
    assert unknown_org.returncode == 1
    assert "no organization" in unknown_org.stderr
