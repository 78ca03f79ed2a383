"""Staff sign-ins that last a working day: rotating refresh tokens, bound to the member and
revocable; sign-out; reuse detection; deactivation ends every sign-in."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import event, select, text, update

from mercato.core.db import SYSTEM, Database, utcnow
from mercato.core.idempotency_keys import IdempotencyKey
from mercato.core.ids import new_id
from mercato.identity.models import RefreshToken, StaffSignIn
from mercato.identity.service import purge_sign_ins
from mercato.settings import Settings
from tests.conftest import PASSWORD, SECRET, LiveServer, Org

TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def member(client: TestClient, org: Org, role: str = "cashier") -> dict[str, str]:
    """A new staff member of ``org``: id and email."""
    email = f"{role}-{new_id().lower()}@{org.slug}.test"
    created = client.post("/api/v1/staff", headers=org.headers,
                          json={"email": email, "password": PASSWORD, "role": role})
    assert created.status_code == 201, created.text
    return {"id": created.json()["id"], "email": email}


def sign_in(client: TestClient, email: str, **headers: str) -> dict[str, Any]:
    response = client.post(TOKEN, json={"email": email, "password": PASSWORD}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def refresh(client: TestClient, token: str, **headers: str) -> httpx.Response:
    return client.post(REFRESH, json={"refresh_token": token}, headers=headers)


def works(client: TestClient, access_token: str) -> bool:
    status = client.get("/api/v1/me", headers=bearer(access_token)).status_code
    assert status in (200, 401)
    return status == 200


def set_member(client: TestClient, org: Org, member_id: str, **fields: Any) -> None:
    response = client.patch(f"/api/v1/staff/{member_id}", headers=org.headers, json=fields)
    assert response.status_code == 200, response.text


def test_a_sign_in_answers_a_refresh_token_that_renews_the_pair_exactly_once(
    client: TestClient, org: Org
) -> None:
    who = member(client, org)
    first = sign_in(client, who["email"])
    assert first["token_type"] == "bearer"
    assert first["refresh_token"].startswith("rt_")
    assert first["refresh_token_expires_in"] > first["expires_in"] > 0
    renewed = refresh(client, first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert works(client, second["access_token"])
    # the same sign-in: access tokens name it
    claims = [jwt.decode(p["access_token"], options={"verify_signature": False})
              for p in (first, second)]
    assert claims[0]["sid"] == claims[1]["sid"]
    # the used token again: refused, and every token of the sign-in with it
    reused = refresh(client, first["refresh_token"])
    assert reused.status_code == 401
    assert reused.headers["content-type"] == "application/problem+json"
    assert reused.json()["code"] == "unauthorized"
    assert refresh(client, second["refresh_token"]).status_code == 401
    assert not works(client, second["access_token"])
    assert not works(client, first["access_token"])
    # a new sign-in is unaffected
    assert works(client, sign_in(client, who["email"])["access_token"])


def test_concurrent_refreshes_with_one_token_give_exactly_one_pair_and_end_the_sign_in(
    client: TestClient, live_server: LiveServer, org: Org
) -> None:
    who = member(client, org)
    pair = sign_in(client, who["email"])
    clients = 12
    start = threading.Barrier(clients)

    def attempt(_: int) -> httpx.Response:
        start.wait()
        return httpx.post(f"{live_server.url}{REFRESH}",
                          json={"refresh_token": pair["refresh_token"]}, timeout=60)

    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(attempt, range(clients)))
    assert Counter(r.status_code for r in answers) == {200: 1, 401: clients - 1}
    [winner] = [r.json() for r in answers if r.status_code == 200]
    # the losers presented a used token: the sign-in is over, the winner's pair included
    assert refresh(client, winner["refresh_token"]).status_code == 401
    assert not works(client, winner["access_token"])
    assert not works(client, pair["access_token"])


def test_sign_out_ends_that_sign_in_and_no_other(client: TestClient, org: Org) -> None:
    who = member(client, org)
    laptop, phone = sign_in(client, who["email"]), sign_in(client, who["email"])
    assert works(client, laptop["access_token"])
    out = client.post(LOGOUT, json={"refresh_token": laptop["refresh_token"]})
    assert out.status_code == 204, out.text
    assert out.content == b""
    assert not works(client, laptop["access_token"])
    assert refresh(client, laptop["refresh_token"]).status_code == 401
    assert client.post(LOGOUT, json={"refresh_token": laptop["refresh_token"]}
                       ).status_code == 204  # ending an ended sign-in changes nothing
    assert works(client, phone["access_token"])
    assert refresh(client, phone["refresh_token"]).status_code == 200
    bad = client.post(LOGOUT, json={"refresh_token": "rt_nonsense"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "unauthorized"


def test_deactivating_a_member_ends_every_sign_in_and_revokes_their_api_keys(
    client: TestClient, org: Org
) -> None:
    who = member(client, org, "manager")
    pairs = [sign_in(client, who["email"]) for _ in range(2)]
    key = client.post("/api/v1/api-keys", headers=bearer(pairs[0]["access_token"]),
                      json={"name": "theirs", "scopes": ["catalog:read"]}).json()
    owners = client.post("/api/v1/api-keys", headers=org.headers,
                         json={"name": "owner's", "scopes": ["catalog:read"]}).json()
    assert client.get("/api/v1/products", headers=bearer(key["key"])).status_code == 200
    set_member(client, org, who["id"], is_active=False)
    set_member(client, org, who["id"], is_active=True)  # back again: still signed out
    for pair in pairs:
        assert not works(client, pair["access_token"])
        assert refresh(client, pair["refresh_token"]).status_code == 401
    assert client.get("/api/v1/products", headers=bearer(key["key"])).status_code == 401
    shown = client.get(f"/api/v1/api-keys/{key['id']}", headers=org.headers).json()
    assert shown["revoked_at"] is not None
    assert client.get("/api/v1/products", headers=bearer(owners["key"])).status_code == 200
    revoked = client.get("/api/v1/audit-log", headers=org.headers, params={
        "resource_id": key["id"], "action": "api_key.updated"}).json()["data"]
    assert [e["actor"]["id"] for e in revoked] == [org.owner_id]
    assert works(client, sign_in(client, who["email"])["access_token"])


def test_a_refreshed_pair_carries_the_members_current_role(
    client: TestClient, org: Org
) -> None:
    who = member(client, org, "manager")
    pair = sign_in(client, who["email"])
    assert client.get("/api/v1/staff", headers=bearer(pair["access_token"])).status_code == 200
    set_member(client, org, who["id"], role="cashier")
    assert not works(client, pair["access_token"])  # the old role's token
    renewed = refresh(client, pair["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    access = renewed.json()["access_token"]
    assert client.get("/api/v1/me", headers=bearer(access)).json()["role"] == "cashier"
    assert client.get("/api/v1/staff", headers=bearer(access)).status_code == 403


def test_a_refresh_is_not_refused_for_the_expired_access_token_sent_with_it(
    client: TestClient, org: Org
) -> None:
    who = member(client, org)
    pair = sign_in(client, who["email"])
    expired = jwt.encode({"iss": "mercato", "typ": "access", "sub": who["id"], "org": org.id,
                          "role": "cashier", "iat": 1, "exp": 2}, b"x" * 32, algorithm="HS256")
    renewed = refresh(client, pair["refresh_token"], Authorization=f"Bearer {expired}")
    assert renewed.status_code == 200, renewed.text
    out = client.post(LOGOUT, json={"refresh_token": renewed.json()["refresh_token"]},
                      headers=bearer(expired))
    assert out.status_code == 204


def test_a_forged_refresh_token_is_refused_and_ends_nothing(
    client: TestClient, org: Org, db: Database
) -> None:
    who = member(client, org)
    pair = sign_in(client, who["email"])
    token_id = pair["refresh_token"][3:].split("_", 1)[0]
    for forged in (f"rt_{token_id}_not-the-secret", f"rt_{token_id}", "rt_", "nonsense",
                   pair["access_token"][:200]):
        response = refresh(client, forged)
        assert response.status_code == 401, forged
        assert response.json()["code"] == "unauthorized"
    too_long = refresh(client, "rt_" + "x" * 300)
    assert too_long.status_code == 422
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_refresh_tokens_are_kept_as_hashes_and_replayed_answers_sealed(
    client: TestClient, org: Org, db: Database
) -> None:
    who = member(client, org)
    key = f"sign-in-{new_id()}"
    first = client.post(TOKEN, json={"email": who["email"], "password": PASSWORD},
                        headers={"Idempotency-Key": key})
    again = client.post(TOKEN, json={"email": who["email"], "password": PASSWORD},
                        headers={"Idempotency-Key": key})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    pair = first.json()
    renew_key = f"refresh-{new_id()}"
    renewed = refresh(client, pair["refresh_token"], **{"Idempotency-Key": renew_key})
    retried = refresh(client, pair["refresh_token"], **{"Idempotency-Key": renew_key})
    assert renewed.status_code == retried.status_code == 200, retried.text
    assert retried.headers.get("Idempotent-Replayed") == "true"
    assert retried.json() == renewed.json()  # a lost answer, fetched again: no reuse
    assert works(client, renewed.json()["access_token"])
    secrets = [pair["access_token"], pair["refresh_token"],
               renewed.json()["access_token"], renewed.json()["refresh_token"]]
    with db.transaction(tenant=SYSTEM) as session:
        stored = session.scalars(select(IdempotencyKey).where(
            IdempotencyKey.key.in_([key, renew_key]))).all()
        tokens = session.scalars(select(RefreshToken).join(
            StaffSignIn, StaffSignIn.id == RefreshToken.sign_in_id).where(
                StaffSignIn.staff_id == who["id"])).all()
        dump = "\n".join(str(tuple(row)) for row in session.execute(
            text("SELECT * FROM refresh_tokens")))
    assert len(stored) == 2
    assert all(row.sealed for row in stored)
    for row in stored:
        body = row.response_body or b""
        assert not any(secret.encode() in body for secret in secrets)
        assert b"refresh_token" not in body
    assert len(tokens) == 2
    for issued in (pair["refresh_token"], renewed.json()["refresh_token"]):
        token_id, secret = issued[3:].split("_", 1)
        [row] = [t for t in tokens if t.id == token_id]
        assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in dump


def test_a_sign_in_lasts_its_absolute_lifetime_and_a_token_its_idle_lifetime(
    client: TestClient, org: Org, db: Database, settings: Settings
) -> None:
    who = member(client, org)
    before = utcnow()
    pair = sign_in(client, who["email"])
    assert pair["refresh_token_expires_in"] in range(settings.refresh_token_idle_seconds - 5,
                                                     settings.refresh_token_idle_seconds + 1)
    sid = jwt.decode(pair["access_token"], options={"verify_signature": False})["sid"]
    with db.transaction(tenant=SYSTEM) as session:
        row = session.get(StaffSignIn, sid)
        assert row is not None
        lifetime = dt.timedelta(seconds=settings.refresh_token_ttl_seconds)
        assert before + lifetime <= row.expires_at <= utcnow() + lifetime
        # near the end of the sign-in, an access token never outlives it
        session.execute(update(StaffSignIn).where(StaffSignIn.id == sid).values(
            expires_at=utcnow() + dt.timedelta(seconds=90)))
    near_end = refresh(client, pair["refresh_token"])
    assert near_end.status_code == 200, near_end.text
    assert near_end.json()["expires_in"] <= 90
    assert near_end.json()["refresh_token_expires_in"] <= 90
    exp = jwt.decode(near_end.json()["access_token"], options={"verify_signature": False})["exp"]
    assert exp <= (utcnow() + dt.timedelta(seconds=91)).timestamp()
    # past its absolute end, the sign-in refreshes no more
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(update(StaffSignIn).where(StaffSignIn.id == sid).values(
            expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert refresh(client, near_end.json()["refresh_token"]).status_code == 401
    # a refresh token left unused past its idle lifetime is refused
    other = sign_in(client, who["email"])
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(update(RefreshToken).where(
            RefreshToken.id == other["refresh_token"][3:].split("_", 1)[0]).values(
                expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert refresh(client, other["refresh_token"]).status_code == 401


def test_the_idle_lifetime_cannot_be_shorter_than_an_access_token() -> None:
    """Set shorter, it is refused; left at its default, it stretches to the access token's
    lifetime (a day-long access token must not stop the server from starting)."""
    with pytest.raises(ValidationError, match="REFRESH_TOKEN_IDLE_SECONDS"):
        Settings(secret_key=SECRET, access_token_ttl_seconds=3600,
                 refresh_token_idle_seconds=1800)
    assert Settings(secret_key=SECRET, access_token_ttl_seconds=86400
                    ).refresh_token_idle_seconds == 86400


def test_checking_an_access_tokens_sign_in_adds_no_query(
    client: TestClient, org: Org, db: Database
) -> None:
    """The member's role and the sign-in are read in one statement, by primary keys."""
    signed_in = sign_in(client, org.owner_email)["access_token"]
    without = org.token  # made by code, no sign-in
    assert "sid" not in jwt.decode(without, options={"verify_signature": False})
    counts: dict[str, int] = {}
    for name, token in (("without", without), ("signed_in", signed_in)) * 2:
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any,
                  into: list[str] = statements) -> None:
            into.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert works(client, token)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        counts[name] = len(statements)
    assert counts["signed_in"] == counts["without"], counts


def test_ended_and_expired_sign_ins_are_purged_with_their_tokens(
    client: TestClient, org: Org, db: Database
) -> None:
    who = member(client, org)
    ended, expired, live = (sign_in(client, who["email"]) for _ in range(3))
    assert client.post(LOGOUT, json={"refresh_token": ended["refresh_token"]}
                       ).status_code == 204
    sid = {name: jwt.decode(p["access_token"], options={"verify_signature": False})["sid"]
           for name, p in (("ended", ended), ("expired", expired), ("live", live))}
    long_ago = utcnow() - dt.timedelta(days=2)
    with db.transaction(tenant=SYSTEM) as session:
        session.execute(update(StaffSignIn).where(StaffSignIn.id == sid["ended"])
                        .values(ended_at=long_ago))
        session.execute(update(StaffSignIn).where(StaffSignIn.id == sid["expired"])
                        .values(expires_at=long_ago))
    assert purge_sign_ins(db) >= 2
    with db.transaction(tenant=SYSTEM) as session:
        left = set(session.scalars(select(StaffSignIn.id).where(
            StaffSignIn.id.in_(list(sid.values())))))
        tokens = set(session.scalars(select(RefreshToken.sign_in_id).where(
            RefreshToken.sign_in_id.in_(list(sid.values())))))
    assert left == tokens == {sid["live"]}
    assert refresh(client, live["refresh_token"]).status_code == 200
