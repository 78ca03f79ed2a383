"""Request limits: body sizes per route kind (checked on Content-Length and on the bytes as they
arrive), JSON depth and string length, query-string length (``core/limits.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.app import create_app
from mercato.core.db import Database
from mercato.core.limits import json_shape_errors
from mercato.settings import Settings
from tests.conftest import Org

CHUNK = 64 * 1024


def _sign_up(org: Org) -> str:
    return f"/store/v1/{org.slug}/customers"


def _call(app: FastAPI, path: str, headers: dict[str, str],
          chunks: Iterator[bytes]) -> tuple[int, dict[str, Any], int]:
    """POST ``path`` to the app as an ASGI server would, the body in ``chunks`` (each a
    message); the status, the JSON answer, and how many body messages the app asked for."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"),
                         *((k.lower().encode(), v.encode()) for k, v in headers.items())]}
    anyio.run(app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), asked


def _endless() -> Iterator[bytes]:
    """4 MiB, four times the JSON limit (finite: a server without limits reads it all)."""
    for _ in range(64):
        yield b"[" + b"0," * (CHUNK // 2 - 1) + b"]"  # CHUNK bytes


def test_a_content_length_past_the_json_limit_is_413_before_any_byte_is_read(
    app: FastAPI, org: Org
) -> None:
    """What a 200 MB body to an anonymous route took 1.36 GB for is refused unread."""
    status, problem, asked = _call(app, _sign_up(org), {
        "content-type": "application/json", "content-length": str(200 * 2**20)}, _endless())
    assert status == 413
    assert problem["code"] == "payload_too_large"
    assert problem["status"] == 413
    assert "MERCATO_MAX_JSON_BYTES" in problem["detail"]
    assert asked == 0


def test_a_chunked_body_past_the_limit_is_cut_off_as_it_arrives_with_413(
    app: FastAPI, org: Org, settings: Settings
) -> None:
    """Without Content-Length the bytes are counted as they come: reading stops at the first
    chunk past the limit, whatever follows."""
    status, problem, asked = _call(app, _sign_up(org), {"content-type": "application/json"},
                                   _endless())
    assert status == 413
    assert problem["code"] == "payload_too_large"
    assert asked == settings.max_json_bytes // CHUNK + 1
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):  # not JSON
        status, problem, asked = _call(app, _sign_up(org), {"content-type": content_type},
                                       _endless())
        assert (status, problem["code"]) == (413, "payload_too_large")
        assert asked == settings.max_json_bytes // CHUNK + 1


def test_a_chunked_json_body_over_http_is_413_and_the_app_still_answers(
    client: TestClient, org: Org
) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"email": "a@example.com", "password": "'
        for _ in range(40):
            yield b"x" * CHUNK
        yield b'"}'

    response = client.post(_sign_up(org), content=body(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"
    assert client.get("/health").status_code == 200


def _nested(depth: int) -> str:
    return "[" * (depth - 1) + '{"a": 1}' + "]" * (depth - 1)


def test_json_nested_deeper_than_allowed_is_a_422_naming_the_body(
    client: TestClient, org: Org
) -> None:
    deep = client.post(_sign_up(org), content=f'{{"email": {_nested(33)}}}',
                       headers={"content-type": "application/json"})
    assert deep.status_code == 422, deep.text
    assert deep.headers["content-type"] == "application/problem+json"
    assert deep.json()["errors"] == [{"field": "body", "message": "nests arrays and objects "
                                      "deeper than 32 levels (MERCATO_MAX_JSON_DEPTH)"}]
    very_deep = client.post(_sign_up(org), content="[" * 100_000,
                            headers={"content-type": "application/json"})
    assert very_deep.status_code in (400, 422), very_deep.text  # not JSON at all: 400
    allowed = client.post(_sign_up(org), content=f'{{"email": {_nested(31)}}}',
                          headers={"content-type": "application/json"})
    assert allowed.status_code == 422  # a bad email, but not too deep
    assert all(e["field"] != "body" for e in allowed.json()["errors"])
    brackets_in_text = client.post(_sign_up(org), json={"email": "[" * 100 + "{" * 100})
    assert all(e["field"] != "body" for e in brackets_in_text.json()["errors"])


def test_a_json_string_longer_than_allowed_is_a_422_naming_the_body(
    client: TestClient, org: Org
) -> None:
    long = client.post(_sign_up(org), json={"email": "a@example.com", "password": "é" * 100_001})
    assert long.status_code == 422, long.text
    assert long.json()["errors"] == [{"field": "body", "message": "holds a string longer than "
                                      "100000 characters (MERCATO_MAX_JSON_STRING_CHARS)"}]
    # 100,000 characters is the bound, however many bytes they take or escapes spell them
    for text in ("é" * 100_000, "\n" * 100_000):
        response = client.post(_sign_up(org), json={"email": "not an email", "password": text})
        assert response.status_code == 422
        assert all(e["field"] != "body" for e in response.json()["errors"]), response.text


def test_the_json_checks_are_linear_in_awkward_text() -> None:
    """Quotes that never close, escapes everywhere: still one pass each (a backtracking
    string pattern would take minutes on the first)."""
    awkward = b'"' + b'\\"' * 500_000
    assert json_shape_errors(awkward + b'"', max_depth=32, max_string_chars=100_000) == [{
        "field": "body", "message": "holds a string longer than 100000 characters "
        "(MERCATO_MAX_JSON_STRING_CHARS)"}]
    assert json_shape_errors(awkward, max_depth=32, max_string_chars=100_000) == []
    assert json_shape_errors(b'"\\u0041' * 200_000, max_depth=32,
                             max_string_chars=100_000) == []
    assert json_shape_errors(b"]" * 100 + b"[" * 100, max_depth=32,
                             max_string_chars=100_000) == []  # not JSON: the parser says so
    assert json_shape_errors(b'["' + b"[" * 40 + b'"]', max_depth=32,
                             max_string_chars=100_000) == []


def test_a_query_string_longer_than_allowed_is_a_422_naming_the_query(
    client: TestClient, org: Org
) -> None:
    for path in ("/health", f"/store/v1/{org.slug}/products", "/api/v1/products"):
        response = client.get(f"{path}?q={'x' * 8192}", headers=org.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"] == [{
            "field": "query", "message": "at most 8192 bytes (MERCATO_MAX_QUERY_STRING_BYTES)"}]
        assert client.get(f"{path}?q={'x' * 100}", headers=org.headers).status_code in (200, 422)


@pytest.fixture
def small_json_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    small = create_app(settings.model_copy(update={"max_json_bytes": 2048,
                                                   "max_upload_bytes": 64 * 1024}), db)
    with TestClient(small, raise_server_exceptions=False) as client:
        yield client


def test_uploads_and_webhooks_have_limits_of_their_own(
    small_json_client: TestClient, org: Org
) -> None:
    """A CSV import may be far larger than any JSON body, a webhook larger too; each kind
    is held to its own limit."""
    client = small_json_client
    client.post("/api/v1/product-types/install", headers=org.headers, json={"set": "tcg"})
    rows = "\n".join(f"h{i},Card {i},tcg-single,active,S{i}-{org.slug},1.00"
                     for i in range(300))
    csv = f"handle,title,product_type,status,sku,price\n{rows}\n".encode()
    assert 2048 < len(csv) < 64 * 1024
    upload = client.post("/api/v1/imports", headers=org.headers,
                         files={"file": ("cards.csv", csv, "text/csv")})
    assert upload.status_code == 202, upload.text
    too_big = client.post("/api/v1/imports", headers=org.headers,
                          files={"file": ("cards.csv", csv * 30, "text/csv")})
    assert too_big.status_code == 413, too_big.text
    assert "MERCATO_MAX_UPLOAD_BYTES" in too_big.json()["detail"]

    payload = json.dumps({"id": 1, "note": "x" * 4096})
    hook = client.post(f"/webhooks/shopify/{org.slug}", content=payload,
                       headers={"content-type": "application/json"})
    assert hook.status_code != 413, hook.text  # refused for its signature, not its size
    body = client.post(_sign_up(org), content=payload,
                       headers={"content-type": "application/json"})
    assert body.status_code == 413, body.text
    assert "MERCATO_MAX_JSON_BYTES" in body.json()["detail"]


def test_a_chunked_upload_past_the_upload_limit_is_cut_off_with_413(
    small_json_client: TestClient, org: Org
) -> None:
    """The multipart parser reads the upload as it streams; it stops at the first chunk past
    ``MERCATO_MAX_UPLOAD_BYTES`` (64 KiB here), before any credential is even looked at."""
    status, problem, asked = _call(
        small_json_client.app, "/api/v1/imports",  # type: ignore[arg-type]
        {"content-type": "multipart/form-data; boundary=xyz", **org.headers},
        iter([b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n'
              b"Content-Type: text/csv\r\n\r\n", *_endless()]))
    assert (status, problem["code"]) == (413, "payload_too_large"), problem
    assert "MERCATO_MAX_UPLOAD_BYTES" in problem["detail"]
    assert asked == 2
