"""Outbound webhooks: an organization's endpoints receive its events, signed, retried with
backoff, in order per resource, with a circuit breaker and a delivery log (docs/webhooks.md).

Nothing else calls this module: it listens to every outbox event (``events.fan_out``) and
sends from the worker (``tasks.py``). Its API is ``/api/v1/webhook-endpoints``.

- ``matches(patterns, event_type)``: whether an endpoint's event filter wants an event type.
"""

from __future__ import annotations

from mercato.webhooks.service import matches

__all__ = ["matches"]
