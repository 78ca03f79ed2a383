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
from tests.conftest import Org
from tests.probe import BODIES, FIXTURES, QUERIES

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


def flat_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Routes of the app, including those of included routers (mounted without a prefix)."""
    flat: list[BaseRoute] = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        flat += flat_routes(list(nested.routes)) if nested is not None else [route]
    return flat


def probes(app: FastAPI) -> list[Probe]:
    found = []
    for route in flat_routes(list(app.routes)):
        if isinstance(route, APIRoute) and route.path.startswith("/api/v1/"):
            params = tuple(PARAM.findall(route.path))
            if params:
                found += [Probe(m, route.path, params) for m in sorted(route.methods)]
    return found


def test_every_route_with_an_id_is_404_across_tenants(
    app: FastAPI, client: TestClient, org: Org, other_org: Org
) -> None:
    _load_fixture_modules()
    routes = probes(app)
    assert len(routes) >= 6, "the probe found too few routes: is it walking the app?"
    missing = sorted({p for r in routes for p in r.params if p not in FIXTURES})
    assert not missing, f"register probe fixtures (tests/<module>/probe_fixtures.py) for {missing}"
    failures = []
    for probe in routes:
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


def test_the_probe_would_catch_a_route_that_leaks(app: FastAPI) -> None:
    """Guard against a probe that cannot fail: it must see the routes it claims to cover."""
    paths = {(p.method, p.path) for p in probes(app)}
    assert ("GET", "/api/v1/staff/{staff_id}") in paths
    assert ("DELETE", "/api/v1/api-keys/{api_key_id}") in paths
    if not paths:
        pytest.fail("no routes")
