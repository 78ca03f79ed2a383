"""Platform operators: made by the CLI, signed in with their own kind of token, which opens
the platform's routes only; no organization's credential opens them."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.db import Database
from mercato.core.ids import new_id
from mercato.settings import Settings
from tests.conftest import Org
from tests.identity.test_tokens import fresh_client
from tests.platform_helpers import OPERATOR_PASSWORD, make_operator, operator_headers
from tests.test_cli import FAST_HASHING, cli_env, run_cli

TOKEN = "/api/platform/v1/auth/token"


def test_the_cli_makes_an_operator_who_signs_in_for_an_operator_token(
    database_url: str, client: TestClient
) -> None:
    email = f"ops-{new_id().lower()}@platform.test"
    made = run_cli(["operator", "create", "--email", email, "--password", OPERATOR_PASSWORD],
                   cli_env(database_url, **FAST_HASHING))
    assert made.returncode == 0, made.stdout + made.stderr
    created = json.loads(made.stdout)  # stdout is the JSON document and nothing else
    assert created["email"] == email
    assert created["id"]

    again = run_cli(["operator", "create", "--email", email, "--password", OPERATOR_PASSWORD],
                    cli_env(database_url, **FAST_HASHING))
    assert again.returncode != 0
    assert again.stdout == ""
    assert json.loads(again.stderr)["error"] == "conflict"

    answer = client.post(TOKEN, json={"email": email.upper(), "password": OPERATOR_PASSWORD})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    me = client.get("/api/platform/v1/me",
                    headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == email


def test_a_wrong_password_is_a_401_and_repeated_failures_a_429(
    app: FastAPI, db: Database, settings: Settings
) -> None:
    email = make_operator(db, settings)
    with fresh_client(app) as client:  # its own address: the per-client limit starts at 0
        wrong = client.post(TOKEN, json={"email": email, "password": "not the password"})
        assert wrong.status_code == 401
        assert wrong.headers["content-type"].startswith("application/problem+json")
        unknown = client.post(TOKEN, json={"email": f"x{email}", "password": OPERATOR_PASSWORD})
        assert unknown.status_code == 401
        statuses = [client.post(TOKEN, json={"email": email, "password": "wrong again"})
                    .status_code for _ in range(settings.login_max_failures_per_email)]
        assert statuses[-1] == 429
        limited = client.post(TOKEN, json={"email": email, "password": OPERATOR_PASSWORD})
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1


def test_a_staff_members_credentials_are_no_operators(app: FastAPI, org: Org) -> None:
    from tests.conftest import PASSWORD

    with fresh_client(app) as client:
        answer = client.post(TOKEN, json={"email": org.owner_email, "password": PASSWORD})
    assert answer.status_code == 401


def test_an_operator_token_opens_nothing_of_an_organization(
    app: FastAPI, client: TestClient, db: Database, settings: Settings, org: Org
) -> None:
    headers = operator_headers(client, db, settings)
    for path in ("/api/v1/organization", "/api/v1/products", "/api/v1/staff", "/api/v1/me"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json()["code"] == "unauthorized"
    mine = client.get(f"/store/v1/{org.slug}/me", headers=headers)
    assert mine.status_code == 401


def test_signing_out_ends_the_operators_tokens(
    client: TestClient, db: Database, settings: Settings
) -> None:
    headers = operator_headers(client, db, settings)
    assert client.get("/api/platform/v1/organizations", headers=headers).status_code == 200
    assert client.post("/api/platform/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/platform/v1/organizations", headers=headers).status_code == 401
