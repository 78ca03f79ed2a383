"""One organization's ids are 404 to another organization, on every route that takes an id."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

import tests
from mercato.core.db import Database
from mercato.settings import Settings
from tests.conftest import Org
from tests.platform_helpers import operator_headers
from tests.probe import BODIES, FIXTURES, QUERIES, SHARED, STORE_BODIES, STORE_FIXTURES
from tests.storefront_helpers import sign_up

PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def _load_fixture_modules() -> None:
    for module in pkgutil.walk_packages(tests.__path__, prefix="tests."):
        if module.name.endswith(".probe_fixtures"):
            importlib.import_module(module.name)


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    params: tuple[str, ...]


def flat_routes(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, BaseRoute]]:
    """(full path, route) of every route of the app, including those of included routers at
    any depth (an included router's routes get the prefixes it was included under)."""
    flat: list[tuple[str, BaseRoute]] = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is None:
            flat.append((prefix + getattr(route, "path", ""), route))
            continue
        inner = prefix + route.include_context.prefix  # type: ignore[attr-defined]
        for child in nested.routes:
            if getattr(child, "original_router", None) is not None:
                flat += flat_routes([child], inner)
            else:
                flat.append((inner + getattr(child, "path", ""), child))
    return flat


def probes(app: FastAPI) -> list[Probe]:
    found = []
    for path, route in flat_routes(list(app.routes)):
        if isinstance(route, APIRoute) and path.startswith("/api/v1/"):
            params = tuple(PARAM.findall(path))
            if params:
                found += [Probe(m, path, params) for m in sorted(route.methods)]
    return found


def test_every_route_with_an_id_is_404_across_tenants(
    app: FastAPI, client: TestClient, org: Org, other_org: Org
) -> None:
    _load_fixture_modules()
    routes = probes(app)
    assert len(routes) >= 6, "the probe found too few routes: is it walking the app?"
    missing = sorted({p for r in routes for p in r.params if p not in FIXTURES | SHARED})
    assert not missing, f"register probe fixtures (tests/<module>/probe_fixtures.py) for {missing}"
    failures = []
    for probe in routes:
        if any(p in SHARED for p in probe.params):
            failures += _probe_shared(client, org, other_org, probe)
            continue
        ids = {param: FIXTURES[param](client, org) for param in probe.params}
        url = probe.path.format(**ids)
        body = BODIES.get((probe.method, probe.path), {} if probe.method in {
            "POST", "PUT", "PATCH"} else None)
        query = QUERIES.get((probe.method, probe.path))
        theirs = client.request(probe.method, url, headers=other_org.headers, json=body,
                                params=query)
        if theirs.status_code != 404 or theirs.json().get("code") != "not_found":
            failures.append(f"{probe.method} {probe.path}: {theirs.status_code} {theirs.text}")
            continue
        if probe.method == "GET":  # control: the owner does see it
            mine = client.get(url, headers=org.headers, params=query)
            if mine.status_code != 200:
                failures.append(f"control {probe.method} {probe.path}: {mine.status_code}")
    assert not failures, "\n".join(failures)


def _probe_shared(client: TestClient, org: Org, other_org: Org, probe: Probe) -> list[str]:
    """A route naming a server-wide thing (``SHARED``): the other organization's request
    must neither show nor change the first organization's state of it."""
    ids, secrets, readers = {}, [], []
    for param in probe.params:
        if param in SHARED:
            factory, state = SHARED[param]
            ids[param], secret = factory(client, org)
            secrets.append(secret)
            readers.append((state, ids[param]))
        else:
            ids[param] = FIXTURES[param](client, org)
    before = [state(client, org, value) for state, value in readers]
    url = probe.path.format(**ids)
    body = BODIES.get((probe.method, probe.path), {} if probe.method in {
        "POST", "PUT", "PATCH"} else None)
    theirs = client.request(probe.method, url, headers=other_org.headers, json=body,
                            params=QUERIES.get((probe.method, probe.path)))
    failures = []
    if theirs.status_code >= 500 or any(secret in theirs.text for secret in secrets):
        failures.append(f"{probe.method} {probe.path}: {theirs.status_code} {theirs.text}")
    if [state(client, org, value) for state, value in readers] != before:
        failures.append(f"{probe.method} {probe.path}: changed the first organization's state")
    return failures


def test_the_probe_would_catch_a_route_that_leaks(app: FastAPI) -> None:
    """Guard against a probe that cannot fail: it must see the routes it claims to cover."""
    paths = {(p.method, p.path) for p in probes(app)}
    assert ("GET", "/api/v1/staff/{staff_id}") in paths
    assert ("DELETE", "/api/v1/api-keys/{api_key_id}") in paths
    if not paths:
        pytest.fail("no routes")


def test_no_route_carries_a_prefix_twice(app: FastAPI) -> None:
    """A router included under another must not repeat the outer prefix (``/api/v1/api/v1``)."""
    doubled = [path for path, _ in flat_routes(list(app.routes))
               if "/api/v1/api/v1" in path or path.count("/store/v1") > 1]
    assert doubled == []


def store_probes(app: FastAPI) -> list[Probe]:
    found = []
    for path, route in flat_routes(list(app.routes)):
        if isinstance(route, APIRoute) and path.startswith("/store/v1/{store}/"):
            params = tuple(p for p in PARAM.findall(path) if p != "store")
            if params:
                found += [Probe(m, path, params) for m in sorted(route.methods)]
    return found


def test_every_store_route_with_an_id_is_404_in_another_store(
    app: FastAPI, client: TestClient, org: Org, other_org: Org
) -> None:
    _load_fixture_modules()
    routes = store_probes(app)
    assert len(routes) >= 10, "the store probe found too few routes: is it walking the app?"
    missing = sorted({p for r in routes for p in r.params if p not in STORE_FIXTURES})
    assert not missing, f"register store probe fixtures (store_probe_fixture) for {missing}"
    mine, theirs = sign_up(client, org.slug), sign_up(client, other_org.slug)
    failures = []
    for probe in routes:
        ids = {param: STORE_FIXTURES[param](client, org, mine) for param in probe.params}
        body = STORE_BODIES.get((probe.method, probe.path), {} if probe.method in {
            "POST", "PUT", "PATCH"} else None)
        other_url = probe.path.format(store=other_org.slug, **ids)
        answer = client.request(probe.method, other_url, headers=theirs["headers"], json=body)
        if answer.status_code != 404 or answer.json().get("code") != "not_found":
            failures.append(f"{probe.method} {probe.path}: {answer.status_code} {answer.text}")
            continue
        if probe.method == "GET":  # control: the store's own shopper does see it
            own = client.get(probe.path.format(store=org.slug, **ids), headers=mine["headers"])
            if own.status_code != 200:
                failures.append(f"control {probe.method} {probe.path}: {own.status_code}")
    assert not failures, "\n".join(failures)


# -- the platform operator's routes are outside every tenant: no tenant's credential opens them

def test_no_organization_credential_opens_a_platform_route(
    app: FastAPI, client: TestClient, org: Org
) -> None:
    shopper = sign_up(client, org.slug)
    key = client.post("/api/v1/api-keys", headers=org.headers,
                      json={"name": "k", "scopes": ["catalog:read"]})
    assert key.status_code == 201, key.text
    credentials = {
        "staff token": org.headers,
        "API key": {"Authorization": f"Bearer {key.json()['key']}"},
        "customer token": shopper["headers"],
        "none": {},
    }
    routes = [(m, path) for path, r in flat_routes(list(app.routes))
              if isinstance(r, APIRoute) and path.startswith("/api/platform/v1/")
              and not path.endswith("/auth/token") for m in sorted(r.methods)]
    assert len(routes) >= 7
    for method, path in routes:
        url = path.replace("{organization_id}", org.id)
        for name, headers in credentials.items():
            answer = client.request(method, url, headers=headers, json={})
            assert answer.status_code == 401, (name, method, path, answer.text)


def test_an_operator_token_opens_no_tenant_route(
    app: FastAPI, client: TestClient, db: Database, settings: Settings, org: Org
) -> None:
    """Every ``/api/v1`` and ``/store/v1/{store}`` route with an id refuses an operator token
    as it would no credential at all (401), or answers as to anyone (public store reads)."""
    _load_fixture_modules()
    headers = operator_headers(client, db, settings)
    failures = []
    for probe in probes(app):
        ids = {param: SHARED[param][0](client, org)[0] if param in SHARED
               else FIXTURES[param](client, org) for param in probe.params}
        answer = client.request(probe.method, probe.path.format(**ids), headers=headers,
                                json={} if probe.method in {"POST", "PUT", "PATCH"} else None)
        if answer.status_code != 401:
            failures.append(f"{probe.method} {probe.path}: {answer.status_code}")
    assert not failures, "\n".join(failures)
