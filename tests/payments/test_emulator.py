"""The Stripe emulator speaks Stripe's protocol to the official SDK over real HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import stripe
from fastapi import FastAPI, Request

from mercato_emulators.stripe import parse_form, sign
from tests.conftest import LiveServer
from tests.payments.helpers import SECRET_KEY, WEBHOOK_SECRET, StripeServer


def sdk(server: StripeServer, key: str = SECRET_KEY) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": server.url}, max_network_retries=0)


def create(client: stripe.StripeClient, key: str | None = None, **params: object) -> object:
    options = {"idempotency_key": key} if key else None
    return client.v1.payment_intents.create(
        params={"amount": 1250, "currency": "usd", **params},  # type: ignore[typeddict-item]
        options=options)  # type: ignore[arg-type]


def test_a_visa_payment_intent_confirmed_at_creation_succeeds_with_its_metadata(
        stripe_server: StripeServer) -> None:
    intent = create(sdk(stripe_server), payment_method="pm_card_visa", confirm=True,
                    metadata={"reference": "cart:1"})
    assert intent.status == "succeeded"  # type: ignore[attr-defined]
    assert intent.amount_received == 1250  # type: ignore[attr-defined]
    assert intent.metadata["reference"] == "cart:1"  # type: ignore[attr-defined]
    fetched = sdk(stripe_server).v1.payment_intents.retrieve(intent.id)  # type: ignore[attr-defined]
    assert (fetched.status, fetched.currency) == ("succeeded", "usd")


def test_a_declined_card_raises_card_error_with_the_intent(stripe_server: StripeServer) -> None:
    with pytest.raises(stripe.CardError) as caught:
        create(sdk(stripe_server), payment_method="pm_card_chargeDeclined", confirm=True)
    assert caught.value.http_status == 402
    assert caught.value.code == "card_declined"
    body = caught.value.json_body
    assert isinstance(body, dict)
    assert body["error"]["payment_intent"]["status"] == "requires_payment_method"


def test_a_wrong_or_missing_api_key_is_401_in_stripes_error_shape(
        stripe_server: StripeServer) -> None:
    with pytest.raises(stripe.AuthenticationError):
        create(sdk(stripe_server, key="pk_test_not_a_secret"), payment_method="pm_card_visa")
    answer = httpx.post(f"{stripe_server.url}/v1/payment_intents",
                        data={"amount": "100", "currency": "usd"})
    assert answer.status_code == 401
    assert set(answer.json()["error"]) >= {"type", "code", "message"}


def test_manual_capture_authorizes_then_captures(stripe_server: StripeServer) -> None:
    client = sdk(stripe_server)
    intent = create(client, payment_method="pm_card_visa", confirm=True, capture_method="manual")
    assert intent.status == "requires_capture"  # type: ignore[attr-defined]
    captured = client.v1.payment_intents.capture(intent.id)  # type: ignore[attr-defined]
    assert (captured.status, captured.amount_received) == ("succeeded", 1250)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.capture(intent.id)  # type: ignore[attr-defined]
    assert caught.value.code == "payment_intent_unexpected_state"


def test_an_unconfirmed_intent_confirms_later_and_can_be_canceled_before(
        stripe_server: StripeServer) -> None:
    client = sdk(stripe_server)
    pending = create(client)
    assert pending.status == "requires_payment_method"  # type: ignore[attr-defined]
    confirmed = client.v1.payment_intents.confirm(
        pending.id, params={"payment_method": "pm_card_visa"})  # type: ignore[attr-defined]
    assert confirmed.status == "succeeded"
    other = create(client, payment_method="pm_card_visa")
    assert other.status == "requires_confirmation"  # type: ignore[attr-defined]
    canceled = client.v1.payment_intents.cancel(other.id)  # type: ignore[attr-defined]
    assert canceled.status == "canceled"


def test_three_d_secure_waits_for_the_shopper_then_succeeds_or_fails(
        stripe_server: StripeServer) -> None:
    client = sdk(stripe_server)
    ok = create(client, payment_method="pm_card_threeDSecure2Required", confirm=True)
    assert ok.status == "requires_action"  # type: ignore[attr-defined]
    assert ok.client_secret.startswith(ok.id)  # type: ignore[attr-defined]
    done = httpx.post(f"{stripe_server.url}/_emulator/payment_intents/{ok.id}/authenticate",  # type: ignore[attr-defined]
                      data={"outcome": "succeed"})
    assert done.json()["status"] == "succeeded"
    bad = create(client, payment_method="pm_card_threeDSecure2Required", confirm=True)
    failed = httpx.post(f"{stripe_server.url}/_emulator/payment_intents/{bad.id}/authenticate",  # type: ignore[attr-defined]
                        data={"outcome": "fail"})
    assert failed.json()["status"] == "requires_payment_method"
    assert failed.json()["last_payment_error"]["code"] == "payment_intent_authentication_failure"


def test_the_same_idempotency_key_replays_and_other_params_are_an_idempotency_error(
        stripe_server: StripeServer) -> None:
    client = sdk(stripe_server)
    first = create(client, key="order-42", payment_method="pm_card_visa", confirm=True)
    again = create(client, key="order-42", payment_method="pm_card_visa", confirm=True)
    assert again.id == first.id  # type: ignore[attr-defined]
    assert sum(1 for i in stripe_server.state.intents.values() if i["id"] == first.id) == 1  # type: ignore[attr-defined]
    with pytest.raises(stripe.IdempotencyError):
        create(client, key="order-42", payment_method="pm_card_visa", confirm=True, amount=999)
    with pytest.raises(stripe.CardError):
        create(client, key="declined-1", payment_method="pm_card_chargeDeclined", confirm=True)
    with pytest.raises(stripe.CardError):  # a stored decline replays as the decline
        create(client, key="declined-1", payment_method="pm_card_chargeDeclined", confirm=True)


def test_refunds_never_exceed_what_was_captured(stripe_server: StripeServer) -> None:
    client = sdk(stripe_server)
    intent = create(client, payment_method="pm_card_visa", confirm=True)
    part = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1000})  # type: ignore[attr-defined]
    assert (part.amount, part.status) == (1000, "succeeded")
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 500})  # type: ignore[attr-defined]
    assert caught.value.code == "amount_too_large"
    rest = client.v1.refunds.create(params={"payment_intent": intent.id})  # type: ignore[attr-defined]
    assert rest.amount == 250


def test_webhooks_are_signed_so_the_sdk_verifies_them_and_redelivery_sends_them_again(
        stripe_server: StripeServer) -> None:
    received: list[tuple[bytes, str]] = []
    sink = FastAPI()

    @sink.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    async def hook(request: Request) -> dict[str, bool]:
        received.append((await request.body(), request.headers["stripe-signature"]))
        return {"ok": True}

    hook.__annotations__["request"] = Request  # resolvable although defined in a function
    sink.post("/hook")(hook)
    with LiveServer(sink) as server:
        stripe_server.send_webhooks_to(f"{server.url}/hook")
        try:
            intent = create(sdk(stripe_server), payment_method="pm_card_visa", confirm=True)
            deadline = time.monotonic() + 10
            while not received and time.monotonic() < deadline:
                time.sleep(0.05)
            assert received, stripe_server.state.deliveries
            body, header = received[0]
            event = stripe.Webhook.construct_event(body, header, WEBHOOK_SECRET)
            assert event.type == "payment_intent.succeeded"
            assert event.data.object.id == intent.id  # type: ignore[attr-defined]
            again = httpx.post(f"{stripe_server.url}/_emulator/events/{event.id}/redeliver")
            assert again.json() == {"status": 200}
            assert json.loads(received[-1][0])["id"] == event.id
        finally:
            stripe_server.send_webhooks_to(None)


def test_form_bodies_nest_and_signatures_are_hmac_of_timestamp_and_body() -> None:
    assert parse_form(b"metadata[reference]=cart%3A1&expand[0]=a&expand[1]=b&amount=5") == {
        "metadata": {"reference": "cart:1"}, "expand": ["a", "b"], "amount": "5"}
    header = sign('{"id":"evt_1"}', WEBHOOK_SECRET, timestamp=1_700_000_000)
    stripe.WebhookSignature.verify_header('{"id":"evt_1"}', header, WEBHOOK_SECRET,
                                          tolerance=None)
