"""GET /api/v1/inventory/valuation as CSV (``Accept: text/csv`` or ``format=csv``)."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from tests.conftest import Org
from tests.inventory.helpers import make_location, make_variants, receive
from tests.inventory.purchasing.test_purchasing import set_cost, variant_id_of

VALUATION = "/api/v1/inventory/valuation"


def test_valuation_as_csv_has_a_line_per_location_then_the_totals(
        client: TestClient, org: Org) -> None:
    a, b = make_variants(client, org, 2)
    here = make_location(client, org)
    set_cost(client, org, variant_id_of(client, org, a), "1.25")
    receive(client, org, a, here["code"], 4)  # 5.00
    receive(client, org, b, here["code"], 2)  # no cost
    params = {"location": here["code"]}
    by_header = client.get(VALUATION, params=params,
                           headers={**org.headers, "Accept": "text/csv"})
    by_param = client.get(VALUATION, params={**params, "format": "csv"}, headers=org.headers)
    for response in (by_header, by_param):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert 'filename="inventory-valuation.csv"' in response.headers["content-disposition"]
    assert by_header.text == by_param.text
    assert list(csv.reader(io.StringIO(by_header.text))) == [
        ["location_id", "code", "name", "currency", "units", "value", "uncosted_units"],
        [here["id"], here["code"], here["name"], "USD", "6", "5.00", "2"],
        ["", "TOTAL", "Total", "USD", "6", "5.00", "2"]]
    # JSON stays the default, and format=json wins over Accept
    assert client.get(VALUATION, params=params, headers=org.headers).json()["totals"][0][
        "value"] == "5.00"
    assert client.get(VALUATION, params={**params, "format": "json"},
                      headers={**org.headers, "Accept": "text/csv"}).json()["totals"]
    assert client.get(VALUATION, params={"format": "pdf"},
                      headers=org.headers).status_code == 422


def test_the_valuation_is_a_report_read_with_reports_read(client: TestClient, org: Org) -> None:
    from tests.conftest import staff_token

    for role, status in (("inventory", 200), ("manager", 200), ("fulfillment", 403),
                         ("cashier", 403)):
        token = staff_token(client, org, role)
        answer = client.get(VALUATION, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status, (role, answer.text)
