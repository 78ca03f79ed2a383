"""Operations: /health, /ready, /metrics, request ids and structured JSON logs."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from mercato.app import create_app
from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.core.observability import configure_logging
from mercato.migrations import downgrade, head_revision, upgrade
from mercato.settings import Settings
from tests.conftest import Org, make_settings


def test_health_answers_without_touching_the_database(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_reports_the_database_and_schema(client: TestClient, backend: str) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": backend,
                                "schema": head_revision(), "heads": [head_revision()]}


def test_ready_is_503_when_the_schema_is_behind_the_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    db = Database(url)
    with TestClient(create_app(make_settings(url), db)) as http:
        empty = http.get("/ready")
        assert empty.status_code == 503
        assert empty.json()["code"] == "not_ready"
        upgrade(url)
        assert http.get("/ready").status_code == 200
        downgrade(url, "base")
        assert http.get("/ready").status_code == 503
    db.dispose()


def test_ready_is_503_when_the_database_is_unreachable() -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    db = Database(url)
    with TestClient(create_app(make_settings(url), db)) as http:
        response = http.get("/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


def test_every_response_carries_a_request_id_and_honours_a_sane_incoming_one(
    client: TestClient,
) -> None:
    generated = client.get("/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9A-Z]{26}", generated)
    mine = f"req-{new_id()}"
    assert client.get("/health", headers={"X-Request-ID": mine}).headers["X-Request-ID"] == mine
    hostile = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["X-Request-ID"] != "bad id\twith spaces"


def test_metrics_count_requests_by_route_template_and_status(
    client: TestClient, org: Org
) -> None:
    client.get(f"/api/v1/staff/{new_id()}", headers=org.headers)
    client.get("/api/v1/definitely-not-a-route")
    text = client.get("/metrics").text
    assert re.search(
        r'mercato_http_requests_total\{method="GET",route="/api/v1/staff/\{staff_id\}",'
        r'status="404"\} [1-9]', text)
    assert 'route="<unmatched>",status="404"' in text
    assert "mercato_http_request_duration_seconds_bucket" in text


def test_metrics_label_a_nested_router_route_with_its_full_template(
    client: TestClient, org: Org
) -> None:
    """Routers included in a module's router (reviews under the catalog's ``/api/v1``, tax
    and shipping under checkout's) are labelled with the whole path template, prefix and all,
    as the access log is."""
    client.get(f"/api/v1/reviews/{new_id()}", headers=org.headers)
    client.get("/api/v1/tax/settings", headers=org.headers)
    client.get(f"/store/v1/{org.slug}/products")
    text = client.get("/metrics").text
    assert re.search(r'route="/api/v1/reviews/\{review_id\}",status="404"\} [1-9]', text)
    assert re.search(r'route="/api/v1/tax/settings",status="200"\} [1-9]', text)
    assert re.search(r'route="/store/v1/\{store\}/products",status="200"\} [1-9]', text)
    assert 'route="/reviews/{review_id}"' not in text
    assert 'route="/tax/settings"' not in text


def test_logs_are_json_lines_with_the_request_id(client: TestClient, org: Org) -> None:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        response = client.get("/api/v1/me", headers={**org.headers, "X-Request-ID": "trace-42"})
    finally:
        configure_logging("warning", "json")
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    access = [entry for entry in lines if entry.get("event") == "request"]
    assert access, stream.getvalue()
    assert access[-1]["request_id"] == "trace-42" == response.headers["X-Request-ID"]
    assert access[-1]["route"] == "/api/v1/me"
    assert access[-1]["status"] == 200
    assert access[-1]["level"] == "info"
    assert "timestamp" in access[-1]


def test_openapi_documents_every_api_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/staff", "/api/v1/staff/{staff_id}",
                 "/api/v1/api-keys", "/api/v1/audit-log", "/api/v1/organization"):
        assert path in spec["paths"], path


def test_openapi_documents_problem_json_errors_on_every_api_operation(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    assert "Problem" in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, operation in operations.items():
            for status in ("401", "404", "422"):
                content = operation["responses"][status]["content"]
                assert "application/problem+json" in content, (method, path, status)


def test_metrics_can_be_restricted_to_a_bearer_token(settings: Settings, db: Database) -> None:
    """With MERCATO_METRICS_TOKEN set, /metrics answers only the scraper that presents it;
    /health and /ready stay open."""
    guarded = make_settings(settings.database_url, metrics_token="scrape-me-please")
    with TestClient(create_app(guarded, db)) as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert "mercato_http_requests_total" not in refused.text
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}
                          ).status_code == 401
        allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-please"})
        assert allowed.status_code == 200
        assert "mercato_http_requests_total" in allowed.text
        assert client.get("/health").status_code == 200


def test_an_unhandled_database_error_is_logged_without_the_values_it_was_given(
        settings: Settings, backend: str) -> None:
    """SQLAlchemy's message appends the statement's parameters and PostgreSQL's quotes the
    value it refused; neither reaches the log (a customer's email is personal data)."""
    from fastapi import APIRouter, Depends
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from mercato.core.uow import MercatoRoute, get_session

    secret = "grace.hopper.secret@navy.example"
    router = APIRouter(route_class=MercatoRoute)

    @router.get("/boom/{kind}")
    def boom(kind: str, email: str, session: Session = Depends(get_session)) -> dict[str, str]:
        statement = ("SELECT CAST(:email AS INTEGER)" if kind == "cast"
                     else "SELECT * FROM no_such_table WHERE email = :email")
        session.execute(text(statement), {"email": email})
        return {}

    database = Database(settings.database_url, pool_size=2)
    app = create_app(settings, database)
    app.include_router(router)
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            missing = client.get("/boom/table", params={"email": secret})
            cast = client.get("/boom/cast", params={"email": secret})
    finally:
        configure_logging("warning", "json")
        database.dispose()
    assert missing.status_code == 500
    assert cast.status_code == (500 if backend == "postgresql" else 200)
    logged = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    errors = [entry for entry in logged if entry.get("event") == "unhandled_error"]
    assert len(errors) == (2 if backend == "postgresql" else 1), stream.getvalue()
    assert "no_such_table" in errors[0]["exception"]  # the statement and the stack stay
    assert "Traceback" in errors[0]["exception"]
    assert secret not in stream.getvalue()
    assert secret.split("@")[0] not in stream.getvalue()
