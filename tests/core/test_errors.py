"""Every error is RFC 9457 problem+json with a stable code, and a failed request changes nothing."""

from __future__ import annotations

import json
import socket

from fastapi.testclient import TestClient

from mercato.app import create_app
from mercato.core.db import Database
from mercato.settings import Settings
from tests.conftest import LiveServer, Org

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "errors"}


def _is_problem(response: object, status: int, code: str) -> dict:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    body = dict(response.json())  # type: ignore[attr-defined]
    assert set(body) >= PROBLEM_FIELDS
    assert body["status"] == status
    assert body["code"] == code
    assert body["request_id"] == response.headers["X-Request-ID"]  # type: ignore[attr-defined]
    return body


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    _is_problem(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_wrong_method_is_a_405_problem(client: TestClient) -> None:
    body = _is_problem(client.put("/api/v1/me"), 405, "method_not_allowed")
    assert "PUT" in body["detail"]


def test_malformed_json_is_a_400_problem(client: TestClient, org: Org) -> None:
    response = client.post("/api/v1/staff", content=b'{"email": ',
                           headers={**org.headers, "content-type": "application/json"})
    _is_problem(response, 400, "malformed_json")


def test_validation_errors_name_each_field(client: TestClient, org: Org) -> None:
    response = client.post("/api/v1/staff", headers=org.headers,
                           json={"role": "cashier", "invite": "perhaps", "extra": 1})
    body = _is_problem(response, 422, "validation_error")
    assert {e["field"] for e in body["errors"]} == {"email", "invite", "extra"}
    assert all(e["message"] for e in body["errors"])


def test_bad_query_parameters_are_422(client: TestClient, org: Org) -> None:
    body = _is_problem(client.get("/api/v1/staff?limit=0", headers=org.headers), 422,
                       "validation_error")
    assert body["errors"][0]["field"] == "limit"
    _is_problem(client.get("/api/v1/staff?limit=251", headers=org.headers), 422,
                "validation_error")


def test_missing_credentials_are_a_401_problem(client: TestClient) -> None:
    response = client.get("/api/v1/staff")
    _is_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_request_that_fails_changes_nothing(client: TestClient, org: Org) -> None:
    before = client.get("/api/v1/staff?limit=250", headers=org.headers).json()["data"]
    # the second member passes validation but the role grant is refused after the insert
    # would have been flushed: the whole unit of work rolls back
    response = client.post("/api/v1/staff", headers=org.headers,
                           json={"email": org.owner_email, "role": "cashier",
                                 "password": "long enough"})
    assert response.status_code == 409
    after = client.get("/api/v1/staff?limit=250", headers=org.headers).json()["data"]
    assert after == before


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, read off a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed mid-body")
        body += chunk
    return int(lines[0].split()[1]), headers, body


def test_an_unhandled_error_is_a_500_problem_and_the_connection_stays_open(
        settings: Settings, db: Database) -> None:
    app = create_app(settings, db)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with LiveServer(app) as server, socket.create_connection(("127.0.0.1", server.port),
                                                             timeout=10) as sock:
        sock.sendall(b"GET /boom HTTP/1.1\r\nHost: t\r\nX-Request-ID: boom-1\r\n\r\n")
        status, headers, body = _read_response(sock)
        assert status == 500
        assert headers["content-type"] == "application/problem+json"
        assert headers["x-request-id"] == "boom-1"
        problem = json.loads(body)
        assert problem["code"] == "internal_error"
        assert problem["request_id"] == "boom-1"
        assert "a bug" not in body.decode()  # internals are logged, never shown
        # the same keep-alive connection serves the next request
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert _read_response(sock)[0] == 200


def test_extension_members_can_never_shadow_the_problem_s_own() -> None:
    """``status`` is the HTTP status in every problem: an error that tried to add a member
    named like RFC 9457's (or ``code``, ``errors``) is a bug, refused where it is raised; and
    the renderer keeps the document's own members whatever it is handed."""
    import pytest

    from mercato.core.errors import RESERVED_MEMBERS, Conflict
    from mercato.core.problems import problem_response

    for name in RESERVED_MEMBERS:
        with pytest.raises(ValueError, match="extension members"):
            Conflict("The reservation is released.", extra={name: "released"})
    rendered = json.loads(problem_response(
        409, "conflict", "x", extra={"status": "released", "code": "nope",
                                     "reservation_status": "released"}).body)
    assert (rendered["status"], rendered["code"], rendered["reservation_status"]) == (
        409, "conflict", "released")


def test_every_extension_member_raised_in_the_code_has_a_name_of_its_own() -> None:
    """Each ``extra={...}`` the services pass names no reserved member (read from the source,
    so an error raised only on a rare path is checked too)."""
    import ast
    from pathlib import Path

    from mercato.core.errors import RESERVED_MEMBERS

    source = Path(__file__).resolve().parents[2] / "src" / "mercato"
    found = 0
    for path in source.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.keyword) and node.arg == "extra" \
                    and isinstance(node.value, ast.Dict):
                names = {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
                assert not names & RESERVED_MEMBERS, (path, node.lineno, names)
                found += 1
    assert found >= 10


def _unreachable_url(backend: str, tmp_path: object) -> str:
    if backend == "sqlite":  # a file in a directory that does not exist cannot be opened
        return f"sqlite:///{tmp_path}/no-such-directory/mercato.db"
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql+psycopg://mercato_test@127.0.0.1:{port}/mercato"


def test_an_unreachable_database_is_a_503_database_unavailable_problem(
        backend: str, settings: Settings, org: Org, tmp_path: object) -> None:
    from tests.conftest import make_settings

    url = _unreachable_url(backend, tmp_path)
    down = create_app(make_settings(url), Database(url, pool_size=1))
    with TestClient(down, raise_server_exceptions=False) as client:
        for response in (client.get("/api/v1/products", headers=org.headers),
                         client.post("/api/v1/auth/token",
                                     json={"email": org.owner_email, "password": "x" * 12}),
                         client.get(f"/store/v1/{org.slug}/products"),
                         client.get("/api/v1/orders", headers=org.headers,
                                    params={"q": "x"})):
            body = _is_problem(response, 503, "database_unavailable")
            assert response.headers["Retry-After"].isdigit()
            assert "mercato_test" not in body["detail"]
