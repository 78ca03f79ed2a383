"""``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from the addresses in
MERCATO_TRUSTED_PROXIES: the client address sign-in failures are counted against, and whether
the request came over https, cannot be forged by anyone else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from mercato.app import create_app
from mercato.core.db import Database
from mercato.settings import Settings
from tests.conftest import PASSWORD, create_org, make_settings

PROXY = "10.20.30.40"
PER_CLIENT = 3


@pytest.fixture
def proxied(database_url: str, db: Database) -> Iterator[TestClient]:
    """An app behind a proxy on 10.0.0.0/8, with a small per-client sign-in limit."""
    settings = make_settings(database_url, trusted_proxies="10.0.0.0/8, 2001:db8::1",
                             login_max_failures_per_client=PER_CLIENT)
    with TestClient(create_app(settings, db), raise_server_exceptions=False,
                    client=(PROXY, 40000)) as http:
        yield http


def guesses(http: TestClient, headers: dict[str, str], n: int) -> list[int]:
    """``n`` failed sign-ins for unknown emails, then the statuses of them all."""
    return [http.post("/api/v1/auth/token", headers=headers,
                      json={"email": f"guess-{i}@nowhere.test", "password": "wrong-pass"}
                      ).status_code for i in range(n)]


def test_behind_a_trusted_proxy_failures_count_against_the_forwarded_address(
        proxied: TestClient) -> None:
    shopper = {"X-Forwarded-For": "203.0.113.7"}
    assert guesses(proxied, shopper, PER_CLIENT + 1) == [401] * PER_CLIENT + [429]
    # another shopper behind the same proxy is not limited
    assert guesses(proxied, {"X-Forwarded-For": "203.0.113.8"}, 1) == [401]
    # a chain: the right-most address the trusted proxies did not add is the client's, so a
    # client's own X-Forwarded-For (the left part) changes nothing
    forged_chain = {"X-Forwarded-For": "198.18.0.1, 203.0.113.7, 10.1.1.1"}
    assert guesses(proxied, forged_chain, 1) == [429]


def test_from_an_untrusted_peer_forwarded_headers_are_ignored(
        database_url: str, db: Database) -> None:
    settings = make_settings(database_url, trusted_proxies="10.0.0.0/8",
                             login_max_failures_per_client=PER_CLIENT)
    with TestClient(create_app(settings, db), raise_server_exceptions=False,
                    client=("192.0.2.99", 40000)) as http:
        statuses = [guesses(http, {"X-Forwarded-For": f"203.0.113.{i}"}, 1)[0]
                    for i in range(PER_CLIENT + 1)]
        assert statuses == [401] * PER_CLIENT + [429]  # all counted against 192.0.2.99
        org = create_org(db, settings)
        right = http.post("/api/v1/auth/token", headers={"X-Forwarded-For": "203.0.113.200"},
                          json={"email": org.owner_email, "password": PASSWORD})
        assert right.status_code == 429
        spoofed = http.get("/health", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in spoofed.headers


def test_the_scheme_a_trusted_proxy_reports_is_believed(proxied: TestClient) -> None:
    secure = proxied.get("/health", headers={"X-Forwarded-Proto": "https",
                                             "X-Forwarded-For": "203.0.113.9"})
    assert secure.headers["strict-transport-security"] == "max-age=31536000"
    plain = proxied.get("/health", headers={"X-Forwarded-Proto": "http"})
    assert "strict-transport-security" not in plain.headers


def test_with_no_trusted_proxies_nobody_is_believed(database_url: str, db: Database) -> None:
    settings = make_settings(database_url, login_max_failures_per_client=PER_CLIENT)
    assert settings.trusted_proxies == []  # the default
    with TestClient(create_app(settings, db), raise_server_exceptions=False,
                    client=("::1", 40000)) as http:  # not even loopback
        statuses = [guesses(http, {"X-Forwarded-For": f"198.51.100.{i}",
                                   "X-Forwarded-Proto": "https"}, 1)[0]
                    for i in range(PER_CLIENT + 1)]
        assert statuses[-1] == 429
        assert "strict-transport-security" not in http.get(
            "/health", headers={"X-Forwarded-Proto": "https"}).headers


@pytest.mark.parametrize("value", ["10.0.0.0/33", "proxy.example.com", "*", "10.0.0.1/8x"])
def test_a_trusted_proxy_that_is_not_an_address_or_network_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="MERCATO_TRUSTED_PROXIES"):
        Settings(database_url="sqlite://", trusted_proxies=value)


def test_trusted_proxies_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERCATO_TRUSTED_PROXIES", " 10.0.0.1, 192.168.0.0/16 ,::1 ")
    assert Settings().trusted_proxies == ["10.0.0.1", "192.168.0.0/16", "::1"]
