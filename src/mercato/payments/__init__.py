"""Payment gateways: manual, store credit, gift cards and Stripe."""
