"""Identity asks the modules above it through its ports (``identity.ports``); the app provides
every one of them. What they do is proven where it shows: the guest cart merged at sign-in
(tests/checkout/cart), the reset and verification emails (tests/identity), a customer's
order figures, linked and merged orders (tests/identity/customers)."""

from __future__ import annotations

from mercato.app import load_modules
from mercato.identity import ports
from mercato.settings import Settings


def test_the_app_provides_every_port_identity_declares() -> None:
    load_modules(Settings())
    assert ports.merge_guest_cart.provided
    assert ports.send_account_mail.provided
    assert ports.customer_figures.provided
