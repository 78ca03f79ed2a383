"""The demo's Stripe: the Stripe emulator on its own port, its webhooks sent to Mercato, and
the demo store connected to it, so a newcomer can pay by card on the storefront with the
emulator's test cards (a Visa that succeeds, one that needs 3-D Secure, one that is declined)
and no Stripe account.

The emulator is not part of the ``mercato`` package: it is the ``mercato-emulators``
distribution (``emulators/`` in the repository), imported here by name only when the demo
starts; ``EmulatorsMissing`` says how to install it.
"""

from __future__ import annotations

from mercato.core.db import Database
from mercato.core.demo_servers import load_emulator, serve_on_thread
from mercato.payments.gateways import update_stripe
from mercato.settings import Settings

SECRET_KEY = "sk_test_demo_0000000000000000"  # noqa: S105 - the emulator's, not a real account's
PUBLISHABLE_KEY = "pk_test_demo_0000000000000000"
WEBHOOK_SECRET = "whsec_demo_0000000000000000"  # noqa: S105
def start_stripe_emulator(settings: Settings, organization_id: str, store_slug: str,
                          mercato_url: str, host: str, port: int) -> str:
    """Serve the Stripe emulator on a daemon thread at ``host:port`` with its webhooks sent to
    ``{mercato_url}/webhooks/stripe/{store_slug}``, and connect the organization's Stripe
    settings to it (its storefront then offers the test cards); the emulator's URL. Call it
    again at every start: the emulator keeps its state in memory."""
    stripe = load_emulator("stripe", "the demo's card payments")
    app = stripe.create_app(f"{mercato_url}/webhooks/stripe/{store_slug}", WEBHOOK_SECRET)
    url = serve_on_thread(app, host, port, "stripe-emulator")
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
