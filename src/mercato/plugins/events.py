"""Loaded with the modules (``app.load_modules``): discovers the installed plugins, which
subscribes each plugin's after hooks to the outbox, in the server and in the worker alike."""

from __future__ import annotations

from mercato.plugins import registry, service  # noqa: F401  (service provides the hooks)

registry.installed()
