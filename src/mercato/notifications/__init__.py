"""Emails to customers (order placed, paid, shipped, password reset), templated and recorded."""
