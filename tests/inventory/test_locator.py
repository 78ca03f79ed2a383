"""The store locator and the location fields behind it: coordinates validated on the admin API,
public active locations listed to shoppers nearest first (great-circle), or by name without a
point. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mercato.core.ids import new_id
from tests.conftest import Org, create_org
from tests.inventory.helpers import make_location

HOURS = {"mon": [{"opens": "10:00", "closes": "19:00"}],
         "sat": [{"opens": "09:00", "closes": "13:00"}, {"opens": "14:00", "closes": "24:00"}],
         "note": "Friday Night Magic from 18:00"}
CITIES = {"London": (51.5072, -0.1276), "Paris": (48.8566, 2.3522),
          "Manchester": (53.4808, -2.2426), "Edinburgh": (55.9533, -3.1883)}


def locator(client: TestClient, org: Org, **params: Any) -> Any:
    return client.get(f"/store/v1/{org.slug}/locations", params=params)


def public_store(client: TestClient, org: Org, name: str, lat: float | None, lng: float | None,
                 **fields: Any) -> dict[str, Any]:
    coords = {"latitude": lat, "longitude": lng} if lat is not None else {}
    return make_location(client, org, name=name, public=fields.pop("public", True),
                         pickup=True, **coords, **fields)


def true_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Independent of the implementation: the angle between unit vectors, by atan2."""
    def vector(p: tuple[float, float]) -> tuple[float, float, float]:
        lat, lng = math.radians(p[0]), math.radians(p[1])
        return (math.cos(lat) * math.cos(lng), math.cos(lat) * math.sin(lng), math.sin(lat))
    u, v = vector(a), vector(b)
    cross = (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])
    dot = sum(x * y for x, y in zip(u, v, strict=True))
    return 6371.0088 * math.atan2(math.sqrt(sum(c * c for c in cross)), dot)


# -- admin API: the new location fields -----------------------------------------------------

def test_locations_accept_and_return_coordinates_phone_hours_and_public(
        client: TestClient, org: Org) -> None:
    made = make_location(client, org, name="Soho", latitude=51.513456789, longitude="-0.1365",
                         public=True, phone="+44 20 7946 0000", hours=HOURS)
    assert (made["latitude"], made["longitude"]) == (51.513457, -0.1365)  # six places
    assert made["public"] is True
    assert made["phone"] == "+44 20 7946 0000"
    assert made["hours"]["sat"][1] == {"opens": "14:00", "closes": "24:00"}
    assert made["hours"]["tue"] == []
    assert made["hours"]["note"].startswith("Friday")
    plain = make_location(client, org)
    assert (plain["latitude"], plain["public"], plain["phone"], plain["hours"]) == (
        None, False, None, None)

    url = f"/api/v1/locations/{made['id']}"
    moved = client.patch(url, headers=org.headers, json={"latitude": -33.8688,
                                                         "longitude": 151.2093})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["latitude"], moved.json()["longitude"]) == (-33.8688, 151.2093)
    cleared = client.patch(url, headers=org.headers, json={"latitude": None, "longitude": None,
                                                           "hours": None, "public": False})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["latitude"], cleared.json()["hours"]) == (None, None)
    fetched = client.get(url, headers=org.headers).json()
    assert (fetched["longitude"], fetched["public"]) == (None, False)


def test_out_of_range_or_half_given_coordinates_are_422_naming_the_field(
        client: TestClient, org: Org) -> None:
    def create(**body: Any) -> Any:
        return client.post("/api/v1/locations", headers=org.headers,
                           json={"name": "Bad", "code": f"B{new_id()[-8:]}", **body})

    for body, field in [({"latitude": 90.5, "longitude": 0}, "latitude"),
                        ({"latitude": 0, "longitude": -180.01}, "longitude"),
                        ({"latitude": "NaN", "longitude": 0}, "latitude"),
                        ({"latitude": True, "longitude": 0}, "latitude"),
                        ({"hours": {"mon": [{"opens": "18:00", "closes": "09:00"}]}},
                         "hours.mon.0"),
                        ({"hours": {"funday": []}}, "hours.funday"),
                        ({"hours": {"mon": [{"opens": "9am", "closes": "17:00"}]}},
                         "hours.mon.0.opens")]:
        response = create(**body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, (body, response.json())
    assert create(latitude=10).status_code == 422  # one coordinate alone
    listed = client.get("/api/v1/locations", headers=org.headers, params={"limit": 250})
    assert all(loc["name"] != "Bad" for loc in listed.json()["data"])  # nothing was made

    place = make_location(client, org, latitude=10, longitude=20)
    url = f"/api/v1/locations/{place['id']}"
    half = client.patch(url, headers=org.headers, json={"longitude": None})
    assert half.status_code == 422
    assert half.json()["errors"][0]["field"] == "longitude"
    far = client.patch(url, headers=org.headers, json={"latitude": -91})
    assert far.status_code == 422
    assert far.json()["errors"][0]["field"] == "latitude"
    kept = client.get(url, headers=org.headers).json()
    assert (kept["latitude"], kept["longitude"]) == (10.0, 20.0)


# -- the storefront locator -----------------------------------------------------------------

def test_nearest_first_with_distances_in_km(client: TestClient, db: Any,
                                            settings: Any) -> None:
    org = create_org(db, settings)
    for name, (lat, lng) in CITIES.items():
        public_store(client, org, name, lat, lng, phone="+44 1", hours=HOURS)
    public_store(client, org, "Hidden", 51.5, -0.12, public=False)
    closed = public_store(client, org, "Closed", 51.5, -0.12)
    assert client.patch(f"/api/v1/locations/{closed['id']}", headers=org.headers,
                        json={"active": False}).status_code == 200
    public_store(client, org, "Online only", None, None)

    response = locator(client, org, near="51.5072,-0.1276")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [d["name"] for d in data] == ["London", "Manchester", "Paris", "Edinburgh"]
    assert data[0]["distance_km"] == 0.0
    assert abs(data[1]["distance_km"] - 262.0) < 2.0  # London-Manchester
    assert abs(data[2]["distance_km"] - 343.9) < 1.0  # London-Paris
    assert abs(data[3]["distance_km"] - 534.0) < 2.0  # London-Edinburgh
    assert data[0]["phone"] == "+44 1"
    assert data[0]["hours"]["mon"][0]["opens"] == "10:00"
    assert data[0]["pickup"] is True
    assert "address" in data[0]

    same = locator(client, org, lat="55.95", lng="-3.19").json()["data"]
    assert [d["name"] for d in same] == ["Edinburgh", "Manchester", "London", "Paris"]
    two = locator(client, org, near="48.85,2.35", limit=2).json()
    assert [d["name"] for d in two["data"]] == ["Paris", "London"]
    rest = locator(client, org, near="48.85,2.35", limit=2, cursor=two["next_cursor"]).json()
    assert [d["name"] for d in rest["data"]] == ["Manchester", "Edinburgh"]
    assert rest["next_cursor"] is None


def test_without_a_point_every_public_location_is_listed_by_name(
        client: TestClient, db: Any, settings: Any) -> None:
    org = create_org(db, settings)
    for name in ("Zebra Games", "Alpha Cards", "Middle Earth"):
        public_store(client, org, name, None if name == "Middle Earth" else 10.0, 10.0)
    public_store(client, org, "Back Office", 1.0, 1.0, public=False)
    data = locator(client, org).json()["data"]
    assert [d["name"] for d in data] == ["Alpha Cards", "Middle Earth", "Zebra Games"]
    assert all(d["distance_km"] is None for d in data)
    first = locator(client, org, limit=1).json()
    second = locator(client, org, limit=1, cursor=first["next_cursor"]).json()
    assert second["data"][0]["name"] == "Middle Earth"
    other = create_org(db, settings)
    assert locator(client, other).json() == {"data": [], "next_cursor": None}


def test_bad_coordinates_are_422_and_unknown_stores_404(client: TestClient, org: Org) -> None:
    for params, field in [({"near": "abc"}, "near"), ({"near": "91,0"}, "near"),
                          ({"near": "10,200"}, "near"), ({"near": "1,2,3"}, "near"),
                          ({"near": "nan,1"}, "near"), ({"lat": "10"}, "lng"),
                          ({"lng": "10"}, "lat"), ({"lat": "95", "lng": "0"}, "lat"),
                          ({"lat": "0", "lng": "-181"}, "lng"),
                          ({"near": "1,2", "lat": "1", "lng": "2"}, "near")]:
        response = locator(client, org, **params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["code"] == "validation_error"
        assert response.json()["errors"][0]["field"] == field, (params, response.json())
    missing = client.get(f"/store/v1/no-such-{new_id().lower()}/locations")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    garbled = locator(client, org, cursor="%%%")
    assert garbled.status_code == 400


coordinate = st.tuples(st.floats(min_value=-90, max_value=90),
                       st.floats(min_value=-180, max_value=180))


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(places=st.lists(coordinate, min_size=1, max_size=6), origin=coordinate)
def test_results_are_non_decreasing_in_true_distance(
        client: TestClient, org: Org, places: list[tuple[float, float]],
        origin: tuple[float, float]) -> None:
    for lat, lng in places:
        public_store(client, org, f"P{new_id()}", round(lat, 6), round(lng, 6))
    response = locator(client, org, near=f"{origin[0]:.6f},{origin[1]:.6f}", limit=250)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    point = (float(f"{origin[0]:.6f}"), float(f"{origin[1]:.6f}"))
    distances = [true_km(point, (d["latitude"], d["longitude"])) for d in data]
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(distances))
    assert all(abs(d["distance_km"] - km) <= 0.0006 for d, km in zip(data, distances,
                                                                      strict=True))
