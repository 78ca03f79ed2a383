"""The store locator page (``/s/{store}/locations``): public locations with address, phone and
opening hours ("Closed" for a day without hours, the note), nearest first from a postal code
matched against the locations' own codes or from coordinates (the "Use my location" button's
query), a GET form that works without JavaScript, and a clear 422 for a bad position. Runs on
SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import Org, create_org
from tests.inventory.helpers import make_location

HOURS = {"mon": [{"opens": "10:00", "closes": "19:00"}],
         "sat": [{"opens": "09:00", "closes": "13:00"}, {"opens": "14:00", "closes": "18:00"}],
         "note": "Friday Night Magic from 18:00"}


@pytest.fixture
def shopper(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, base_url="http://testserver") as b:
        yield b


@pytest.fixture
def chain(client: TestClient, db: Any, settings: Any) -> tuple[Org, dict[str, dict[str, Any]]]:
    """A store of its own with three public stores and one private warehouse."""
    org = create_org(db, settings)

    def store(name: str, postal: str, lat: float | None, lng: float | None,
              **fields: Any) -> dict[str, Any]:
        coords = {"latitude": lat, "longitude": lng} if lat is not None else {}
        return make_location(client, org, name=name, public=fields.pop("public", True),
                             address={"line1": f"1 {name} St", "city": name,
                                      "postal_code": postal, "country": "US"},
                             **coords, **fields)

    made = {
        "Eugene": store("Eugene", "97401", 44.0521, -123.0868, phone="+1 541 555 0100",
                        hours=HOURS, pickup=True),
        "Portland": store("Portland", "97201", 45.5152, -122.6784),
        "Brooklyn": store("Brooklyn", "11201", 40.6943, -73.9903),
        "Depot": store("Depot", "97402", 44.05, -123.1, public=False),
    }
    return org, made


def _names(html: str) -> list[str]:
    return re.findall(r"<h3>([^<]+)</h3>", html)


def test_the_locator_lists_public_stores_with_address_phone_and_hours(
        shopper: TestClient, chain: tuple[Org, dict[str, Any]]) -> None:
    org, _ = chain
    shown = shopper.get(f"/s/{org.slug}/locations")
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert _names(html) == ["Brooklyn", "Eugene", "Portland"]  # by name; no private depot
    assert "Depot" not in html
    assert "1 Eugene St" in html
    assert "Eugene 97401" in html
    assert 'href="tel:+15415550100"' in html
    assert "<th scope=\"row\">Monday</th><td>10:00 to 19:00</td>" in html
    assert "<th scope=\"row\">Tuesday</th><td>Closed</td>" in html
    assert "<td>09:00 to 13:00, 14:00 to 18:00</td>" in html
    assert "Friday Night Magic from 18:00" in html
    # the GET form works without JavaScript; the button is an enhancement from a static file
    assert '<form class="locator" method="get"' in html
    assert '<label for="f-postal_code">Postal code</label>' in html
    assert re.search(r'<script src="/assets/store-locator\.[0-9a-f]+\.js" defer>', html)
    assert ">Use my location</button>" in html
    assert "<script>" not in html  # no inline script


def test_a_postal_code_puts_the_matching_store_and_its_neighbours_first(
        shopper: TestClient, chain: tuple[Org, dict[str, Any]]) -> None:
    org, _ = chain
    near = shopper.get(f"/s/{org.slug}/locations", params={"postal_code": "97401"})
    assert near.status_code == 200
    assert _names(near.text) == ["Eugene", "Portland", "Brooklyn"]
    assert "Nearest to 97401" in near.text
    east = shopper.get(f"/s/{org.slug}/locations", params={"postal_code": "11215"})
    assert _names(east.text)[0] == "Brooklyn"
    nowhere = shopper.get(f"/s/{org.slug}/locations", params={"postal_code": "SW1A 1AA"})
    assert nowhere.status_code == 200
    assert "No store matches postal code SW1A 1AA" in nowhere.text
    assert _names(nowhere.text) == ["Brooklyn", "Eugene", "Portland"]


def test_coordinates_from_use_my_location_rank_by_distance_with_the_distance_shown(
        shopper: TestClient, chain: tuple[Org, dict[str, Any]]) -> None:
    org, _ = chain
    shown = shopper.get(f"/s/{org.slug}/locations",
                        params={"postal_code": "", "lat": "45.52", "lng": "-122.68"})
    assert shown.status_code == 200, shown.text
    assert _names(shown.text) == ["Portland", "Eugene", "Brooklyn"]
    assert "Nearest to you" in shown.text
    assert re.search(r"0\.\d km away", shown.text)


def test_a_bad_position_is_a_422_page_beside_the_postal_code_and_lists_every_store(
        shopper: TestClient, chain: tuple[Org, dict[str, Any]]) -> None:
    org, _ = chain
    for params in ({"lat": "91", "lng": "0"}, {"lat": "abc", "lng": "1"}, {"lat": "45"}):
        shown = shopper.get(f"/s/{org.slug}/locations", params=params)
        assert shown.status_code == 422, params
        assert 'id="e-postal_code"' in shown.text
        assert 'class="error-summary"' in shown.text
        assert _names(shown.text) == ["Brooklyn", "Eugene", "Portland"]


def test_the_layout_links_to_the_locator_and_the_api_takes_a_postal_code_too(
        shopper: TestClient, client: TestClient, chain: tuple[Org, dict[str, Any]]) -> None:
    org, _ = chain
    home = shopper.get(f"/s/{org.slug}/")
    assert f'href="/s/{org.slug}/locations"' in home.text
    api = client.get(f"/store/v1/{org.slug}/locations", params={"postal_code": "97401"})
    assert api.status_code == 200, api.text
    assert [loc["name"] for loc in api.json()["data"]] == ["Eugene", "Portland", "Brooklyn"]
    paged = client.get(f"/store/v1/{org.slug}/locations",
                       params={"postal_code": "97401", "limit": 1})
    rest = client.get(f"/store/v1/{org.slug}/locations", params={
        "postal_code": "97401", "cursor": paged.json()["next_cursor"]})
    assert [loc["name"] for loc in rest.json()["data"]] == ["Portland", "Brooklyn"]
    both = client.get(f"/store/v1/{org.slug}/locations",
                      params={"postal_code": "97401", "near": "45,-122"})
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "postal_code"


def test_an_unknown_store_has_no_locator(shopper: TestClient) -> None:
    assert shopper.get("/s/no-such-store/locations").status_code == 404
