from fastapi.testclient import TestClient

from tests.conftest import Org


def test_me_returns_the_signed_in_owner(client: TestClient, org: Org) -> None:
    response = client.get("/api/v1/me", headers=org.headers)
    assert response.status_code == 200, response.text
    assert response.json()["organization"]["id"] == org.id
