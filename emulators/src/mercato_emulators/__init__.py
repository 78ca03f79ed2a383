"""Local emulators of the platforms Mercato connects to (Shopify, Stripe), for its tests and demo.

A distribution of its own (``mercato-emulators``, in ``emulators/`` of the Mercato repository):
the ``mercato`` package never imports it at module level, and its wheel contains none of it.
"""
