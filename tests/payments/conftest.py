from tests.payments.helpers import stripe_server

__all__ = ["stripe_server"]
