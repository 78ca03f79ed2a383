"""Workflows: a merchant's automations. When an event happens (``order.created`` with
conditions on its data) or on a schedule, run steps: send an email, call a webhook, tag an
order or change its status, adjust stock, wait, branch. See docs/workflows.md.

The top layer: it calls notifications', orders', inventory's and tenancy's faces; nothing
imports it but the entry points and the pages. Its face (``service``): the definitions'
CRUD, ``run_test``, the executions' reads, and ``run_due`` / ``schedule_due`` for the worker.
"""

from __future__ import annotations
