"""An emulator of the Stripe endpoints Mercato uses (see ``server``)."""

from mercato_emulators.stripe.server import StripeEmulator, create_app, parse_form, sign

__all__ = ["StripeEmulator", "create_app", "parse_form", "sign"]
