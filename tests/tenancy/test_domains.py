"""Custom domains: claimed by anyone, routing only once verified, never the platform's own.

One store must never be able to take over another's address: a claim routes nothing until its
owner proves control of the name (DNS TXT or HTTP token, checked by the configured verifier;
here the real DNS check reading an offline zone), the platform's own hosts, IP addresses,
localhost and single-label names cannot be claimed at all, and a pending claim blocks no one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, text

from mercato.app import create_app
from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.ids import new_id
from mercato.tenancy.models import OrganizationDomain
from mercato.tenancy.verification import DomainProof, Verifier, load_verifier
from tests.conftest import Org, make_settings
from tests.tenancy import verifiers
from tests.tenancy.verifiers import publish

PLATFORM_URL = "https://shops.example.com"
PLATFORM_HOSTS = ["admin.example.com", "pos.example.com:8443"]


@pytest.fixture
def use_verifier(app: FastAPI) -> Iterator[Callable[[Verifier], None]]:
    """Plug a verifier into the shared app for one test (monkeypatch cannot restore an
    attribute of ``app.state``)."""
    before = app.state.domain_verifier
    yield lambda verifier: setattr(app.state, "domain_verifier", verifier)
    app.state.domain_verifier = before


@pytest.fixture
def offline_dns(use_verifier: Callable[[Verifier], None]) -> None:
    """The shared app checks proofs against the offline zone."""
    use_verifier(verifiers.offline)


@pytest.fixture
def platform(database_url: str, db: Database) -> Iterator[TestClient]:
    """An app that knows its own hosts (MERCATO_PUBLIC_URL, MERCATO_PUBLIC_HOSTS) and names
    its verifier by setting."""
    settings = make_settings(database_url, public_url=PLATFORM_URL,
                             public_hosts=",".join(PLATFORM_HOSTS),
                             domain_verifier="tests.tenancy.verifiers:offline")
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        yield client


def fresh_domain(prefix: str = "shop") -> str:
    return f"{prefix}-{new_id().lower()}.example.com"


def claim(client: TestClient, org: Org, domain: str) -> dict[str, Any]:
    response = client.post("/api/v1/organization/domains", headers=org.headers,
                           json={"domain": domain})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def verify(client: TestClient, org: Org, domain_id: str) -> Any:
    return client.post(f"/api/v1/organization/domains/{domain_id}/verify", headers=org.headers)


def store_on(client: TestClient, host: str, path: str = "/store/v1") -> Any:
    return client.get(path, headers={"Host": host})


@pytest.mark.parametrize(("domain", "reason"), [
    ("shops.example.com", "platform's own"),  # the host of MERCATO_PUBLIC_URL
    ("SHOPS.example.com.", "platform's own"),
    ("admin.example.com", "platform's own"),  # MERCATO_PUBLIC_HOSTS
    ("pos.example.com", "platform's own"),
    ("127.0.0.1", "IP address"),
    ("127.1", "IP address"),  # what a browser makes of it
    ("0x7f.1", "IP address"),
    ("::1", "IP address"),
    ("[::1]", "IP address"),
    ("localhost", "localhost"),
    ("shop.localhost", "localhost"),
    ("intranet", "single-label"),
])
def test_the_platform_s_hosts_ips_localhost_and_single_label_names_cannot_be_claimed(
    platform: TestClient, org: Org, domain: str, reason: str
) -> None:
    refused = platform.post("/api/v1/organization/domains", headers=org.headers,
                            json={"domain": domain})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "domain"
    assert reason in refused.json()["errors"][0]["message"]
    assert platform.get("/api/v1/organization/domains", headers=org.headers).json() == []


def test_a_name_that_is_no_host_name_is_refused_as_such(client: TestClient, org: Org) -> None:
    bad = client.post("/api/v1/organization/domains", headers=org.headers,
                      json={"domain": "not a domain"})
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"field": "domain", "message": "not a host name"}]


def test_a_claim_answers_unverified_with_the_proof_to_publish(
    client: TestClient, org: Org
) -> None:
    domain = fresh_domain()
    added = claim(client, org, domain.upper() + ".")
    assert added["domain"] == domain
    assert added["verified"] is False
    assert added["verified_at"] is None
    token = added["verification"]["dns"]["value"]
    assert len(token) >= 24
    assert added["verification"]["dns"] == {"type": "TXT", "value": token,
                                            "name": f"_mercato-challenge.{domain}"}
    assert added["verification"]["http"] == {
        "path": f"/.well-known/mercato-challenge/{token}", "body": token}
    assert client.get(f"/api/v1/organization/domains/{added['id']}",
                      headers=org.headers).json() == added
    again = client.post("/api/v1/organization/domains", headers=org.headers,
                        json={"domain": domain})
    assert again.status_code == 409  # one claim per organization and name
    other = claim(client, org, fresh_domain())
    assert other["verification"]["dns"]["value"] != token  # each claim its own token
    assert client.delete(f"/api/v1/organization/domains/{added['id']}",
                         headers=org.headers).status_code == 204
    listed = client.get("/api/v1/organization/domains", headers=org.headers).json()
    assert [d["domain"] for d in listed] == [other["domain"]]


def test_a_pending_claim_never_changes_routing_for_any_store(
    client: TestClient, org: Org, other_org: Org
) -> None:
    domain = fresh_domain()
    claim(client, org, domain)
    nowhere = store_on(client, domain)
    assert nowhere.status_code == 404
    products = store_on(client, domain, "/store/v1/products")
    assert products.status_code == 404
    assert "not a verified domain" in products.json()["detail"]
    # on that host, paths that name a store reach that store, the claimant's or another's
    for owner in (org, other_org):
        by_slug = store_on(client, domain, f"/store/v1/{owner.slug}")
        assert by_slug.status_code == 200, by_slug.text
        assert by_slug.json()["slug"] == owner.slug


def test_the_platform_s_own_hosts_route_by_slug_even_with_a_verified_row_for_them(
    platform: TestClient, db: Database, org: Org, other_org: Org
) -> None:
    """The reported takeover: a row for ``127.0.0.1`` (or the platform's host) sent every
    other store's requests on that host to its owner. Rows written before verification
    existed may still name such hosts; routing ignores them."""
    hosts = ["127.0.0.1", "shops.example.com", "admin.example.com"]
    with db.transaction(tenant=org.id) as session:
        session.add_all(OrganizationDomain(domain=host, organization_id=org.id, token="t",
                                           verified_at=utcnow(), verified_by="operator")
                        for host in hosts)
    try:
        for host in hosts:
            theirs = store_on(platform, f"{host}:8000", f"/store/v1/{other_org.slug}")
            assert theirs.status_code == 200, (host, theirs.text)
            assert theirs.json()["slug"] == other_org.slug
            unknown = store_on(platform, host, "/store/v1/products")
            assert unknown.status_code == 404
            assert unknown.json()["detail"] == "No store has the slug 'products'."
    finally:
        with db.transaction(tenant=SYSTEM) as session:
            session.execute(delete(OrganizationDomain)
                            .where(OrganizationDomain.domain.in_(hosts)))


@pytest.mark.usefixtures("offline_dns")
def test_two_organizations_claim_one_name_and_only_the_verified_one_routes(
    client: TestClient, org: Org, other_org: Org
) -> None:
    domain = fresh_domain("charlie")
    squatter, owner = claim(client, org, domain), claim(client, other_org, domain)
    assert squatter["verification"]["dns"]["value"] != owner["verification"]["dns"]["value"]
    assert store_on(client, domain).status_code == 404  # cached: nothing routes yet

    publish(domain, owner["verification"]["dns"]["value"])
    not_theirs = verify(client, org, squatter["id"])  # the record holds the owner's token
    assert not_theirs.status_code == 409
    verified = verify(client, other_org, owner["id"])
    assert verified.status_code == 200, verified.text
    assert verified.json()["verified"] is True
    assert verified.json()["verified_by"] == "dns"
    routed = store_on(client, domain)  # at once: verifying forgets the cached answer
    assert routed.status_code == 200
    assert routed.json()["slug"] == other_org.slug

    publish(domain, squatter["verification"]["dns"]["value"])  # even with its proof,
    taken = verify(client, org, squatter["id"])  # a verified name is not taken over
    assert taken.status_code == 409
    assert "another organization" in taken.json()["detail"]
    assert store_on(client, domain).json()["slug"] == other_org.slug
    assert client.get(f"/api/v1/organization/domains/{squatter['id']}",
                      headers=org.headers).json()["verified"] is False

    assert verify(client, other_org, owner["id"]).json()["verified"] is True  # idempotent
    assert client.delete(f"/api/v1/organization/domains/{owner['id']}",
                         headers=other_org.headers).status_code == 204
    assert store_on(client, domain).status_code == 404  # removal takes effect at once
    now_theirs = verify(client, org, squatter["id"])  # the name is free to verify again
    assert now_theirs.status_code == 200, now_theirs.text
    assert store_on(client, domain).json()["slug"] == org.slug


@pytest.mark.usefixtures("offline_dns")
def test_a_verified_domain_reaches_the_store_without_the_slug_with_any_port(
    client: TestClient, org: Org
) -> None:
    domain = fresh_domain("cards")
    added = claim(client, org, domain)
    publish(domain, added["verification"]["dns"]["value"])
    assert verify(client, org, added["id"]).status_code == 200
    by_slug = client.get(f"/store/v1/{org.slug}").json()
    assert store_on(client, domain).json() == by_slug
    assert store_on(client, f"{domain.upper()}:8443").json() == by_slug
    org_doc = client.get("/api/v1/organization", headers=org.headers).json()
    assert [(d["domain"], d["verified"]) for d in org_doc["domains"]] == [(domain, True)]


@pytest.mark.usefixtures("offline_dns")
def test_an_unproved_claim_is_a_409_saying_what_was_checked_and_changes_nothing(
    client: TestClient, org: Org
) -> None:
    domain = fresh_domain()
    added = claim(client, org, domain)
    failed = verify(client, org, added["id"])
    assert failed.status_code == 409
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["checks"] == [f"DNS: no TXT record at _mercato-challenge.{domain}"]
    assert f"_mercato-challenge.{domain}" in failed.json()["detail"]
    assert added["verification"]["dns"]["value"] in failed.json()["detail"]
    assert client.get(f"/api/v1/organization/domains/{added['id']}",
                      headers=org.headers).json()["verified"] is False
    assert store_on(client, domain).status_code == 404


def test_a_verifier_that_fails_or_times_out_means_not_verified_never_a_500(
    client: TestClient, org: Org, use_verifier: Callable[[Verifier], None]
) -> None:
    def broken(domain: str, token: str) -> DomainProof:
        raise OSError("resolver unreachable")

    use_verifier(broken)
    added = claim(client, org, fresh_domain())
    failed = verify(client, org, added["id"])
    assert failed.status_code == 409, failed.text
    assert failed.json()["checks"] == ["the check failed: OSError: resolver unreachable"]

    slow_domain = fresh_domain("slow")
    verifiers.ZONE.slow.add(f"_mercato-challenge.{slow_domain}")
    use_verifier(verifiers.offline)
    slow = claim(client, org, slow_domain)
    timed_out = verify(client, org, slow["id"])
    assert timed_out.status_code == 409
    assert "no answer" in timed_out.json()["checks"][0]


def test_the_verifier_setting_must_name_a_function() -> None:
    assert load_verifier("tests.tenancy.verifiers:offline") is verifiers.offline
    assert load_verifier("tests.tenancy.verifiers.offline") is verifiers.offline
    for bad in ("tests.tenancy.verifiers:nothing", "no.such.module:f",
                "tests.tenancy.verifiers:ZONE"):
        with pytest.raises(ValueError, match="MERCATO_DOMAIN_VERIFIER"):
            load_verifier(bad)


def test_only_owners_claim_and_verify_domains(client: TestClient, org: Org) -> None:
    from tests.conftest import staff_token

    added = claim(client, org, fresh_domain())
    manager = {"Authorization": f"Bearer {staff_token(client, org, 'manager')}"}
    assert client.get(f"/api/v1/organization/domains/{added['id']}",
                      headers=manager).status_code == 200
    assert client.post(f"/api/v1/organization/domains/{added['id']}/verify",
                       headers=manager).status_code == 403


def test_the_check_runs_with_no_transaction_open_even_for_an_api_key(
    client: TestClient, db: Database, org: Org, use_verifier: Callable[[Verifier], None]
) -> None:
    """The check waits on DNS and the web, for seconds: on SQLite a write transaction open
    meanwhile would hold every other writer of every store. An API key's lookup begins one
    before the endpoint runs; it is ended first."""
    created = client.post("/api/v1/api-keys", headers=org.headers, json={
        "name": "dns", "scopes": ["organization:read", "organization:write"]})
    assert created.status_code == 201, created.text
    api_key = {"Authorization": f"Bearer {created.json()['key']}"}
    domain = fresh_domain()
    added = claim(client, org, domain)
    publish(domain, added["verification"]["dns"]["value"])
    wrote: list[bool] = []

    def another_writer_meanwhile(name: str, token: str) -> DomainProof:
        with db.transaction(tenant=org.id) as session:
            session.execute(text("UPDATE organizations SET name = name WHERE id = :id"),
                            {"id": org.id})
            wrote.append(True)
        return verifiers.offline(name, token)

    use_verifier(another_writer_meanwhile)
    verified = client.post(f"/api/v1/organization/domains/{added['id']}/verify",
                           headers=api_key)
    assert verified.status_code == 200, verified.text
    assert wrote == [True]
    assert store_on(client, domain).json()["slug"] == org.slug


def test_a_verifier_that_never_answers_is_given_up_on(
    client: TestClient, org: Org, use_verifier: Callable[[Verifier], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mercato.tenancy import api

    release = threading.Event()

    def hangs(domain: str, token: str) -> DomainProof:
        release.wait(10)
        return DomainProof(True, "dns")

    use_verifier(hangs)
    monkeypatch.setattr(api, "VERIFY_TIMEOUT_SECONDS", 0.3)
    added = claim(client, org, fresh_domain())
    try:
        gave_up = verify(client, org, added["id"])
    finally:
        release.set()
    assert gave_up.status_code == 409
    assert gave_up.json()["checks"] == ["the check did not finish within 0.3 s"]
    assert client.get(f"/api/v1/organization/domains/{added['id']}",
                      headers=org.headers).json()["verified"] is False


@pytest.mark.usefixtures("offline_dns")
def test_a_verified_domain_serves_the_storefront_pages_at_its_root(
    client: TestClient, org: Org, other_org: Org
) -> None:
    """``https://cards.example/`` is the store's storefront: its pages link from ``/``, its
    cookies are scoped to ``/``, its canonical links name the domain, and its robots.txt is
    at the root; the platform's own paths (API, admin, POS, another store's ``/s/``) are
    untouched."""
    from tests.web.store.helpers import card, csrf_in

    domain = fresh_domain("cards")
    added = claim(client, org, domain)
    publish(domain, added["verification"]["dns"]["value"])
    assert verify(client, org, added["id"]).status_code == 200
    made = card(client, org, "Rooted Dragon", tag="rooted")
    host = {"Host": domain}

    home = client.get("/", headers=host)
    assert home.status_code == 200, home.text
    assert 'href="/cart"' in home.text
    assert f"/s/{org.slug}" not in home.text
    assert "path=/;" in home.headers["set-cookie"].lower()
    product = client.get(f"/products/{made['slug']}", headers=host)
    assert product.status_code == 200, product.text
    assert f'rel="canonical" href="https://{domain}/products/{made["slug"]}"' in product.text
    robots = client.get("/robots.txt", headers=host)
    assert robots.status_code == 200
    assert "Disallow: /cart" in robots.text
    login = client.get("/account/login", headers=host)
    assert login.status_code == 200
    assert csrf_in(login.text)
    assert client.get("/cart", headers=host).status_code == 200

    assert client.get("/api/v1/organization", headers={**host, **org.headers}).status_code == 200
    assert client.get("/admin/login", headers=host).status_code == 200
    elsewhere = client.get(f"/s/{other_org.slug}/", headers=host)
    assert elsewhere.status_code in (200, 404)
    assert "Rooted Dragon" not in elsewhere.text
    unverified = client.get("/", headers={"Host": fresh_domain()})
    assert "Rooted Dragon" not in unverified.text
