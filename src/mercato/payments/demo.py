"""The demo's Stripe: the Stripe emulator on its own port, its webhooks sent to Mercato, and
the demo store connected to it, so a newcomer can pay by card on the storefront with the
emulator's test cards (a Visa that succeeds, one that needs 3-D Secure, one that is declined)
and no Stripe account.

The emulator is not part of the ``mercato`` package: it is the ``mercato-emulators``
distribution (``emulators/`` in the repository), imported here by name only when the demo
starts; ``EmulatorsMissing`` says how to install it.
"""

from __future__ import annotations

import importlib
import threading
import time
from types import ModuleType

import httpx
import uvicorn

from mercato.core.db import Database
from mercato.payments.gateways import update_stripe
from mercato.settings import Settings

EMULATOR = "mercato_emulators.stripe"
SECRET_KEY = "sk_test_demo_0000000000000000"  # noqa: S105 - the emulator's, not a real account's
PUBLISHABLE_KEY = "pk_test_demo_0000000000000000"
WEBHOOK_SECRET = "whsec_demo_0000000000000000"  # noqa: S105
INSTALL_HINT = (
    "the demo's card payments need the Mercato emulators, which are not installed: from the "
    "repository's root run `.venv/bin/pip install -e ./emulators` (or install the "
    "mercato-emulators wheel), then run `mercato demo` again")


class EmulatorsMissing(RuntimeError):
    """The ``mercato-emulators`` distribution is not installed."""


def load_stripe_emulator() -> ModuleType:
    """``mercato_emulators.stripe``, imported now; ``EmulatorsMissing`` when not installed."""
    try:
        return importlib.import_module(EMULATOR)
    except ModuleNotFoundError as exc:
        if exc.name not in ("mercato_emulators", EMULATOR):
            raise
        raise EmulatorsMissing(INSTALL_HINT) from None


def start_stripe_emulator(settings: Settings, organization_id: str, store_slug: str,
                          mercato_url: str, host: str, port: int) -> str:
    """Serve the Stripe emulator on a daemon thread at ``host:port`` with its webhooks sent to
    ``{mercato_url}/webhooks/stripe/{store_slug}``, and connect the organization's Stripe
    settings to it (its storefront then offers the test cards); the emulator's URL. Call it
    again at every start: the emulator keeps its state in memory."""
    stripe = load_stripe_emulator()
    app = stripe.create_app(f"{mercato_url}/webhooks/stripe/{store_slug}", WEBHOOK_SECRET)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    threading.Thread(target=server.run, name="stripe-emulator", daemon=True).start()
    url = f"http://{host}:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    db = Database.from_settings(settings, pool_size=1)
    try:
        with db.transaction(tenant=organization_id) as session:
            session.info["actor_label"] = "demo"
            update_stripe(session, organization_id, settings, secret_key=SECRET_KEY,
                          publishable_key=PUBLISHABLE_KEY, webhook_secret=WEBHOOK_SECRET,
                          api_base=url)
    finally:
        db.dispose()
    return url
