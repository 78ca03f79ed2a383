"""Browsers and tools can use the API: CORS for listed origins, security headers, offline
``/docs`` and ``/redoc``, and an OpenAPI document whose security says which token each
operation takes."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from mercato.app import create_app
from mercato.core.db import Database
from mercato.settings import Settings
from tests.conftest import Org, make_settings

ALLOWED = "https://admin.example.com"


@pytest.fixture
def cors(database_url: str, db: Database) -> Iterator[TestClient]:
    settings = make_settings(database_url,
                             cors_origins=f"{ALLOWED}, https://pos.example.com:8443/")
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        yield client


def preflight(client: TestClient, origin: str, method: str = "POST",
              headers: str = "authorization, content-type, idempotency-key") -> Any:
    return client.options("/api/v1/products", headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers})


def test_a_preflight_from_a_listed_origin_is_allowed_with_credentials(cors: TestClient) -> None:
    for origin in (ALLOWED, "https://pos.example.com:8443"):
        allowed = preflight(cors, origin)
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == origin
        assert allowed.headers["access-control-allow-credentials"] == "true"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        requested = allowed.headers["access-control-allow-headers"].lower()
        assert {"authorization", "idempotency-key", "if-match"} <= set(requested.split(", "))


def test_a_preflight_from_any_other_origin_gets_no_cors_header_at_all(
    cors: TestClient, client: TestClient
) -> None:
    for app_client, origin in ((cors, "https://evil.example.net"),
                               (cors, "http://admin.example.com"),  # another scheme
                               (client, ALLOWED)):  # no MERCATO_CORS_ORIGINS: none listed
        refused = preflight(app_client, origin)
        assert refused.status_code == 400  # no longer 405: a preflight is understood
        assert refused.headers["content-type"] == "application/problem+json"
        assert "MERCATO_CORS_ORIGINS" in refused.json()["detail"]
        assert not [h for h in refused.headers if h.startswith("access-control-")]
    unknown_header = preflight(cors, ALLOWED, headers="x-not-ours")
    assert unknown_header.status_code == 400
    assert "Idempotency-Key" in unknown_header.json()["detail"]


def test_responses_name_only_a_listed_origin(cors: TestClient, org: Org) -> None:
    mine = cors.get("/api/v1/me", headers={**org.headers, "Origin": ALLOWED})
    assert mine.status_code == 200
    assert mine.headers["access-control-allow-origin"] == ALLOWED
    assert mine.headers["access-control-allow-credentials"] == "true"
    assert "X-Request-ID" in mine.headers["access-control-expose-headers"]
    assert "Origin" in mine.headers["vary"]
    theirs = cors.get("/api/v1/me", headers={**org.headers, "Origin": "https://evil.example"})
    assert theirs.status_code == 200  # the browser, not the server, withholds the answer
    assert not [h for h in theirs.headers if h.startswith("access-control-")]
    assert "Origin" in theirs.headers["vary"]
    error = cors.get("/api/v1/me", headers={"Origin": ALLOWED})  # errors are readable too
    assert error.status_code == 401
    assert error.headers["access-control-allow-origin"] == ALLOWED


def test_cors_origins_must_be_origins() -> None:
    settings = Settings(cors_origins="https://App.Example.com:443/, http://localhost:5173")
    assert settings.cors_origins == ["https://app.example.com", "http://localhost:5173"]
    for bad in ("*", "https://app.example.com/path", "app.example.com", "ftp://x.example"):
        with pytest.raises(ValidationError, match="not an origin"):
            Settings(cors_origins=bad)


def test_every_response_carries_the_security_headers(client: TestClient, org: Org) -> None:
    answers = [client.get("/api/v1/me", headers=org.headers), client.get("/health"),
               client.get("/api/v1/nothing-here"), client.get("/openapi.json")]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert answer.headers["x-frame-options"] == "DENY"
        csp = answer.headers["content-security-policy"]
        assert "default-src 'none'" in csp  # a JSON answer loads nothing
        assert "frame-ancestors 'none'" in csp
        assert "strict-transport-security" not in answer.headers  # plain http here


def test_hsts_only_over_https(app: Any) -> None:
    with TestClient(app, base_url="https://testserver") as secure:
        assert secure.get("/health").headers["strict-transport-security"] == "max-age=31536000"


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_work_offline_with_assets_served_by_mercato(
    client: TestClient, page: str
) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert not re.search(r"https?://|//[a-z]", html), "the page names another host"
    assets = _assets(html)
    assert any(a.endswith(".js") for a in assets)
    for asset in assets:
        assert asset.startswith("/static/vendor/"), asset
        fetched = client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 500
        assert "immutable" in fetched.headers["cache-control"]
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "'unsafe-eval'" not in csp
    script_src = re.search(r"script-src ([^;]+)", csp)
    assert script_src is not None
    assert "'unsafe-inline'" not in script_src.group(1)
    for inline in re.findall(r"<script>(.*?)</script>", html, re.S):  # each allowed by hash
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src.group(1)
    assert "connect-src 'self'" in csp  # the page fetches /openapi.json and tries calls


def test_vendored_assets_keep_their_licences(client: TestClient) -> None:
    for asset in ("/static/vendor/swagger-ui-dist-5.35.0/LICENSE",
                  "/static/vendor/swagger-ui-dist-5.35.0/NOTICE",
                  "/static/vendor/redoc-2.5.4/LICENSE"):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/static/vendor/../../core/docs.py").status_code == 404


def test_the_openapi_document_declares_the_bearer_schemes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert set(schemes) == {"StaffToken", "ApiKey", "CustomerToken", "OperatorToken"}
    for scheme in schemes.values():
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    paths = document["paths"]
    assert paths["/api/v1/me"]["get"]["security"] == [{"StaffToken": []}, {"ApiKey": []}]
    assert paths["/api/v1/organization/domains/{domain_id}/verify"]["post"]["security"] == [
        {"StaffToken": []}, {"ApiKey": []}]
    assert "security" not in paths["/api/v1/auth/token"]["post"]
    assert "security" not in paths["/health"]["get"]
    assert "security" not in paths["/store/v1/{store}/products"]["get"]
    assert paths["/store/v1/{store}/me"]["get"]["security"] == [
        {"CustomerToken": []}]
    assert paths["/store/v1/{store}/carts"]["post"]["security"] == [{}, {"CustomerToken": []}]
    assert paths["/api/platform/v1/organizations"]["get"]["security"] == [
        {"OperatorToken": []}]
    assert "security" not in paths["/api/platform/v1/auth/token"]["post"]


def test_every_operation_s_security_is_what_it_does_without_a_credential(
    client: TestClient, org: Org
) -> None:
    """The document is accurate: an operation that declares a required token answers 401
    without one, and one that declares none (or an optional one) does not."""
    document = client.get("/openapi.json").json()
    wrong = []
    checked = 0
    for path, operations in document["paths"].items():
        if path.startswith("/webhooks/"):
            continue  # the provider's signature, no bearer token
        url = re.sub(r"\{store\}", org.slug, path)
        url = re.sub(r"\{[^}]+\}", "x", url)
        for method, operation in operations.items():
            security = operation.get("security")
            required = bool(security) and {} not in security
            body = {} if method in ("post", "put", "patch") else None
            status = client.request(method.upper(), url, json=body).status_code
            checked += 1
            if required != (status == 401):
                wrong.append(f"{method.upper()} {path}: security {security}, answered {status}")
    assert checked > 150
    assert wrong == []
