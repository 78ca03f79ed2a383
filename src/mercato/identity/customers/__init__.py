"""Customers: the people who buy (``customers``, ``customer_emails``, ``customer_addresses``),
their emails, addresses and merging; a shopper's account (``identity.customer_auth``) signs
in to one. Other modules call them through identity's face, ``mercato.identity``.
"""
