"""Sign-in, access tokens, the authenticator, and the failed-login rate limiter."""

from __future__ import annotations

import secrets

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mercato.core.ids import new_id
from mercato.core.keys import derive_key
from mercato.identity import tokens
from mercato.identity.tokens import TokenSigner
from tests.conftest import PASSWORD, SECRET, Org, create_org, staff_token


def fresh_client(app: FastAPI) -> TestClient:
    """A client with its own address, so the per-client limiter starts from zero."""
    octets = [secrets.randbelow(250) + 1 for _ in range(4)]
    return TestClient(app, raise_server_exceptions=False,
                      client=(".".join(map(str, octets)), 50000))


def test_sign_in_issues_a_bearer_token_that_identifies_the_caller(
    client: TestClient, org: Org
) -> None:
    response = client.post("/api/v1/auth/token",
                           json={"email": org.owner_email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert 60 <= body["expires_in"] <= 86400
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == org.owner_email
    assert me.json()["role"] == "owner"
    assert "staff:write" in me.json()["permissions"]


def test_email_is_matched_case_insensitively(client: TestClient, org: Org) -> None:
    response = client.post("/api/v1/auth/token",
                           json={"email": org.owner_email.upper(), "password": PASSWORD})
    assert response.status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_401(app: FastAPI, org: Org) -> None:
    http = fresh_client(app)
    wrong = http.post("/api/v1/auth/token", json={"email": org.owner_email, "password": "x" * 9})
    unknown = http.post("/api/v1/auth/token",
                        json={"email": f"nobody-{new_id()}@x.test", "password": "x" * 9})
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unauthorized"
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_missing_bad_expired_and_forged_tokens_are_401(client: TestClient, org: Org) -> None:
    key = derive_key(SECRET, "access-token")
    claims = {"iss": "mercato", "typ": "access", "sub": org.owner_id, "org": org.id,
              "role": "owner", "iat": 1}
    expired = jwt.encode({**claims, "exp": 2}, key, algorithm="HS256")
    forged = jwt.encode({**claims, "exp": 4_000_000_000}, b"not-our-key-not-our-key-not-ours",
                        algorithm="HS256")
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"},
                    {"Authorization": f"Bearer {expired}"},
                    {"Authorization": f"Bearer {forged}"}):
        response = client.get("/api/v1/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "unauthorized"


def test_a_token_for_one_organization_cannot_be_replayed_into_another(
    client: TestClient, org: Org, other_org: Org
) -> None:
    key = derive_key(SECRET, "access-token")
    crossed = jwt.encode({"iss": "mercato", "typ": "access", "sub": org.owner_id,
                          "org": other_org.id, "role": "owner", "iat": 1,
                          "exp": 4_000_000_000}, key,
                         algorithm="HS256")
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {crossed}"})
    assert response.status_code == 401


def test_repeated_failures_for_an_email_are_rate_limited_even_with_the_right_password(
    app: FastAPI, org: Org
) -> None:
    http = fresh_client(app)
    for _ in range(5):
        assert http.post("/api/v1/auth/token",
                         json={"email": org.owner_email, "password": "wrong-pass"}
                         ).status_code == 401
    limited = http.post("/api/v1/auth/token", json={"email": org.owner_email,
                                                     "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    # another address is limited too: the limit follows the email
    assert fresh_client(app).post("/api/v1/auth/token", json={
        "email": org.owner_email, "password": PASSWORD}).status_code == 429


def test_repeated_failures_from_one_client_are_rate_limited_across_emails(
    app: FastAPI, org: Org
) -> None:
    http = fresh_client(app)
    for i in range(20):
        response = http.post("/api/v1/auth/token",
                             json={"email": f"guess{i}@nowhere.test", "password": "wrong-pass"})
        assert response.status_code == 401
    limited = http.post("/api/v1/auth/token", json={"email": org.owner_email,
                                                     "password": PASSWORD})
    assert limited.status_code == 429
    # the owner signing in from elsewhere is unaffected
    ok = fresh_client(app).post("/api/v1/auth/token", json={"email": org.owner_email,
                                                            "password": PASSWORD})
    assert ok.status_code == 200


def test_an_email_in_two_organizations_must_name_one(
    client: TestClient, db, settings  # type: ignore[no-untyped-def]
) -> None:
    first, second = create_org(db, settings), create_org(db, settings)
    email = f"shared-{new_id().lower()}@example.test"
    for org in (first, second):
        assert client.post("/api/v1/staff", headers=org.headers, json={
            "email": email, "password": PASSWORD, "role": "cashier"}).status_code == 201
    ambiguous = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert ambiguous.status_code == 422
    assert ambiguous.json()["errors"][0]["field"] == "organization"
    chosen = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD,
                                                       "organization": second.slug})
    assert chosen.status_code == 200
    me = client.get("/api/v1/me",
                    headers={"Authorization": f"Bearer {chosen.json()['access_token']}"})
    assert me.json()["organization"]["id"] == second.id


def test_deactivating_a_member_revokes_their_live_token(client: TestClient, org: Org) -> None:
    token = staff_token(client, org, "cashier")
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=headers).json()
    current = client.get(f"/api/v1/staff/{me['id']}", headers=org.headers)
    patched = client.patch(f"/api/v1/staff/{me['id']}", headers={
        **org.headers, "If-Match": current.headers["ETag"]}, json={"is_active": False})
    assert patched.status_code == 200, patched.text
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    signin = client.post("/api/v1/auth/token",
                         json={"email": me["email"], "password": PASSWORD})
    assert signin.status_code == 401


def test_a_role_change_takes_effect_at_once_and_asks_for_a_new_sign_in(
    client: TestClient, org: Org
) -> None:
    token = staff_token(client, org, "manager")
    headers = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/v1/me", headers=headers).json()
    assert client.get("/api/v1/staff", headers=headers).status_code == 200
    demoted = client.patch(f"/api/v1/staff/{me['id']}", headers=org.headers,
                           json={"role": "cashier"})
    assert demoted.status_code == 200
    stale = client.get("/api/v1/staff", headers=headers)
    assert stale.status_code == 401
    fresh = client.post("/api/v1/auth/token", json={"email": me["email"], "password": PASSWORD})
    again = {"Authorization": f"Bearer {fresh.json()['access_token']}"}
    assert client.get("/api/v1/staff", headers=again).status_code == 403


def test_a_token_is_checked_once_then_trusted_only_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer = TokenSigner(SECRET, 900)
    token = signer.issue(subject="s1", organization_id="o1", role="owner", email="a@b.test")
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(raw: str, *args: object, **kwargs: object) -> object:
        decoded.append(raw)
        return real_decode(raw, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tokens.jwt, "decode", counting_decode)
    first = signer.verify(token)
    assert first is not None
    assert (first.subject, first.organization_id, first.role) == ("s1", "o1", "owner")
    assert signer.verify(token) == first
    assert signer.verify(token) == first
    assert decoded == [token]  # the signature was checked once
    # another string is checked on its own: a token with a byte changed is refused
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert signer.verify(tampered) is None
    assert signer.verify(tampered) is None
    assert decoded == [token, tampered, tampered]  # refusals are not remembered
    # past its expiry a remembered token is refused as jwt.decode would refuse it
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    monkeypatch.setattr(tokens, "_now", lambda: expires - 0.001)
    assert signer.verify(token) == first
    monkeypatch.setattr(tokens, "_now", lambda: float(expires))
    assert signer.verify(token) is None
    assert signer.verify(token) is not None  # forgotten, so checked again: jwt's own clock
    assert decoded[-1] == token
