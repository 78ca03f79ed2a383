"""Organization settings: time zone, locale and default currency (validated; round-trip)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.tenancy import OrgSettings, organization_settings
from tests.conftest import Org

ORG = "/api/v1/organization"


def test_a_new_organization_is_utc_english_and_usd(client: TestClient, org: Org,
                                                   db: Database) -> None:
    body = client.get(ORG, headers=org.headers).json()
    assert (body["time_zone"], body["locale"], body["currency"]) == ("UTC", "en", "USD")
    with db.session(write=False, tenant=org.id) as session:
        assert organization_settings(session, org.id) == OrgSettings("UTC", "en", "USD")


def test_settings_round_trip_with_if_match(client: TestClient, org: Org,
                                           db: Database) -> None:
    etag = client.get(ORG, headers=org.headers).headers["ETag"]
    changed = client.patch(ORG, headers={**org.headers, "If-Match": etag}, json={
        "time_zone": "Europe/Paris", "locale": "fr-CA", "currency": "eur"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["time_zone"], changed.json()["locale"],
            changed.json()["currency"]) == ("Europe/Paris", "fr_CA", "EUR")
    assert changed.headers["ETag"] != etag
    name = changed.json()["name"]
    again = client.get(ORG, headers=org.headers).json()
    assert (again["name"], again["time_zone"], again["locale"], again["currency"]) == (
        name, "Europe/Paris", "fr_CA", "EUR")
    with db.session(write=False, tenant=org.id) as session:
        assert organization_settings(session, org.id) == OrgSettings(
            "Europe/Paris", "fr_CA", "EUR")
    # a field left out stays as it is
    renamed = client.patch(ORG, headers=org.headers, json={"name": "Renamed"})
    assert (renamed.json()["name"], renamed.json()["time_zone"]) == ("Renamed", "Europe/Paris")


def test_bad_settings_are_422_naming_each_field_and_change_nothing(
        client: TestClient, org: Org) -> None:
    before = client.get(ORG, headers=org.headers).json()
    for body, fields in [({"time_zone": "Mars/Olympus_Mons"}, ["time_zone"]),
                         ({"time_zone": "../../etc/passwd"}, ["time_zone"]),
                         ({"time_zone": "localtime"}, ["time_zone"]),
                         ({"currency": "XYZ"}, ["currency"]),
                         ({"currency": "DOLLARS"}, ["currency"]),
                         ({"locale": "zz_ZZ"}, ["locale"]),
                         ({"name": " ", "time_zone": "Nowhere", "currency": "QQQ",
                           "time_zone_x": 1}, ["time_zone_x"]),
                         ({"name": " ", "time_zone": "Nowhere", "currency": "QQQ"},
                          ["name", "time_zone", "currency"]),
                         ({"time_zone": "Europe/Paris", "currency": "QQQ"}, ["currency"])]:
        response = client.patch(ORG, headers=org.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in response.json()["errors"]] == fields, response.json()
    after = client.get(ORG, headers=org.headers).json()
    assert after == before
