"""A bounded schemathesis pass over ``/openapi.json``, on SQLite and on PostgreSQL, as an
organization's owner (every operation) and as one of its shoppers (the ``/store/v1``
operations): no request answers a 5xx, and every error is a problem document whose ``status``
is the HTTP status (tests/fuzz_hooks.py).

It runs the schemathesis CLI, as an outside check would, against a live server on a fresh
database of its own: every phase (the schema's examples, coverage of each keyword's edges,
property-based fuzzing, and stateful sequences along the links schemathesis infers), a fixed
seed and a bounded number of examples per operation, so a run is repeatable. Path parameters
are drawn from real ids (made by the tenant probe's factories) as well as generated ones, so
the fuzzed bodies reach the services instead of a 404. Measured on the 2-core CI machine:
see DEVELOPERS.md, which also says how to run a longer pass.

Select or skip it with ``-m fuzz`` / ``-m "not fuzz"``; ``MERCATO_FUZZ_EXAMPLES`` and
``MERCATO_FUZZ_SEED`` change its bounds.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mercato.app import create_app
from mercato.core.db import Database
from tests.conftest import (
    ROOT,
    LiveServer,
    create_org,
    drop_pg_database,
    make_settings,
    new_database_url,
)
from tests.platform_helpers import OPERATOR_PASSWORD, make_operator
from tests.probe import FIXTURES, SHARED, STORE_FIXTURES
from tests.storefront_helpers import sign_up
from tests.test_tenant_probe import _load_fixture_modules

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("MERCATO_FUZZ_EXAMPLES", "10"))
SEED = int(os.environ.get("MERCATO_FUZZ_SEED", "20261205"))
WORKERS = int(os.environ.get("MERCATO_FUZZ_WORKERS", "1"))
TIME_LIMIT = float(os.environ.get("MERCATO_FUZZ_TIME_LIMIT", "600"))
"""Seconds before the pass is stopped and failed (it takes a few minutes at the defaults)."""


@dataclass
class Target:
    url: str
    owner_token: str
    shopper_token: str
    staff_ids: Path
    store_ids: Path
    workdir: Path
    operator_token: str = ""
    operator_ids: Path | None = None


def _loopback_only(getaddrinfo: Any) -> Any:
    """``socket.getaddrinfo`` for this machine's own addresses only: a fuzzed URL (a webhook
    target, a payment provider's base, a domain to verify) must never reach the network."""

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host or "")
        try:
            local = ipaddress.ip_address(name.strip("[]")).is_loopback
        except ValueError:
            local = name.lower() in {"localhost", ""}
        if not local:
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: the fuzz pass stays on loopback")
        return getaddrinfo(host, *args, **kwargs)

    return guarded


@pytest.fixture(scope="module")
def target(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A live server on a fresh database; an owner's and a shopper's token; and for every path
    parameter of ``/api/v1`` and of ``/store/v1`` an id made in that organization (by the
    tenant probe's factories, the store's own as its shopper)."""
    workdir = tmp_path_factory.mktemp(f"fuzz-{backend}")
    url = new_database_url(backend, workdir)
    db = Database(url, pool_size=20)
    try:
        settings = make_settings(url, access_token_ttl_seconds=3600)  # an hour's pass at most
        app = create_app(settings, db)
        org = create_org(db, settings)
        _load_fixture_modules()
        with TestClient(app, raise_server_exceptions=False) as client:
            # The store's first (a staff id may add a channel that sells nothing), and the
            # order first of them: it ships, and each later factory adds a shipping zone.
            shopper = sign_up(client, org.slug)
            store_ids = {param: make(client, org, shopper) for param, make in sorted(
                STORE_FIXTURES.items(), key=lambda item: (item[0] != "order_id", item[0]))}
            staff_ids = {param: make(client, org) for param, make in sorted(FIXTURES.items())}
            staff_ids.update({param: make(client, org)[0]  # a plugin's name, say
                              for param, (make, _) in sorted(SHARED.items())})
            # the operator's run suspends and limits an organization of its own
            operator_ids = {"organization_id": create_org(db, settings).id}
            operator = client.post("/api/platform/v1/auth/token", json={
                "email": make_operator(db, settings), "password": OPERATOR_PASSWORD})
        staff_ids["store"] = store_ids["store"] = org.slug
        (workdir / "staff-ids.json").write_text(json.dumps(staff_ids))
        (workdir / "store-ids.json").write_text(json.dumps(store_ids))
        (workdir / "operator-ids.json").write_text(json.dumps(operator_ids))
        # built once here: schemathesis gives the document 10 s, which a loaded machine (the
        # suite runs on every core) may not make in
        app.openapi()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(socket, "getaddrinfo", _loopback_only(socket.getaddrinfo))
            with LiveServer(app) as server:
                yield Target(server.url, org.token, shopper["token"],
                             workdir / "staff-ids.json", workdir / "store-ids.json", workdir,
                             operator.json()["access_token"], workdir / "operator-ids.json")
    finally:
        db.dispose()
        if backend == "postgresql":
            drop_pg_database(url)


def schemathesis_run(target: Target, token: str, ids: Path,
                     *options: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{target.url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", "not_a_server_error,problem_document",
        "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", str(WORKERS),
        "--generation-database", "none", "--request-timeout", "30", "--no-color", *options,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "MERCATO_FUZZ_IDS": str(ids),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    return subprocess.run(command, cwd=target.workdir, env=env, capture_output=True, text=True,
                          timeout=TIME_LIMIT, check=False)


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    output = result.stdout + result.stderr
    print(output[output.find("=== SUMMARY"):])  # shown with -rP: operations, phases, counts
    failures = output[output.find("=== FAILURES"):] if "=== FAILURES" in output else output
    assert result.returncode == 0, failures[:20000]
    assert "Tested: " in output, output[-5000:]  # the run reached the operations


def test_as_the_owner_no_operation_answers_a_5xx_or_an_error_that_is_not_a_problem(
        target: Target) -> None:
    assert_clean(schemathesis_run(target, target.owner_token, target.staff_ids))


def test_as_a_shopper_no_store_operation_answers_a_5xx_or_an_error_that_is_not_a_problem(
        target: Target) -> None:
    """Carts, checkout and the shopper's account answer a customer's token only."""
    assert_clean(schemathesis_run(target, target.shopper_token, target.store_ids,
                                  "--include-path-regex", "^/store/v1/"))


def test_as_an_operator_no_platform_operation_answers_a_5xx_or_an_error_that_is_not_a_problem(
        target: Target) -> None:
    """The operator's routes, with an operator token, on an organization of their own."""
    assert target.operator_ids is not None
    assert_clean(schemathesis_run(target, target.operator_token, target.operator_ids,
                                  "--include-path-regex", "^/api/platform/v1/",
                                  "--exclude-path-regex", "/auth/logout$"))  # keep the token
