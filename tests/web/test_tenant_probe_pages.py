"""One organization's ids are a 404 page to another organization's staff, on every admin
page that takes an id; an unsafe request with another's id never succeeds (no 2xx or 3xx)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.probe import FIXTURES
from tests.test_tenant_probe import PARAM, Probe, _load_fixture_modules, flat_routes
from tests.web.conftest import Browser

ALIASES = {"card_id": "gift_card_id", "list_id": "price_list_id",
           "method_id": "shipping_method_id", "rate_id": "tax_rate_id",
           "zone_id": "shipping_zone_id"}
"""A page's name for an id the API's probe fixtures name otherwise."""
CONSTANTS = {"action": "capture"}


def page_probes(app: FastAPI) -> list[Probe]:
    found = []
    for path, route in flat_routes(list(app.routes)):
        methods = getattr(route, "methods", None)
        if path.startswith("/admin/") and methods:
            params = tuple(PARAM.findall(path))
            if params:
                found += [Probe(m, path, params) for m in sorted(methods) if m != "HEAD"]
    return found


def test_every_admin_page_with_an_id_is_404_to_another_organization(
        app: FastAPI, client: TestClient, org: Org, other_org: Org) -> None:
    _load_fixture_modules()
    probes = page_probes(app)
    assert len(probes) >= 40, "the probe found too few pages: is it walking the app?"
    missing = sorted({p for r in probes for p in r.params
                      if p not in CONSTANTS and ALIASES.get(p, p) not in FIXTURES})
    assert not missing, f"register probe fixtures or aliases for {missing}"
    theirs = Browser(app, raise_server_exceptions=False)
    theirs.sign_in(other_org.owner_email)
    mine = Browser(app, raise_server_exceptions=False)
    mine.sign_in(org.owner_email)
    failures = []
    for probe in probes:
        ids = {p: CONSTANTS.get(p) or FIXTURES[ALIASES.get(p, p)](client, org)
               for p in probe.params}
        url = probe.path.format(**ids)
        if probe.method == "GET":
            answer = theirs.get(url, follow_redirects=False)
            if answer.status_code != 404 or "text/html" not in answer.headers["content-type"]:
                failures.append(f"GET {probe.path}: {answer.status_code}")
            elif len(probe.params) == 1 and mine.get(url).status_code != 200:
                failures.append(f"control GET {probe.path}")
        else:
            answer = theirs.request(probe.method, url, data={"csrf_token": theirs.csrf},
                                    follow_redirects=False)
            if answer.status_code < 400:
                failures.append(f"{probe.method} {probe.path}: {answer.status_code}")
    assert not failures, "\n".join(failures)
