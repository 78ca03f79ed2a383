"""Plugins per organization: their state, their configuration, and running their hooks.

A plugin is installed on the server (``registry``); each organization enables, configures and
disables it for itself (``PluginSetting``). ``before_*`` hooks run through ``core.hooks`` in
the caller's transaction, in priority order; ``after`` hooks run from the outbox, one
subscriber per plugin, and only for organizations that have the plugin enabled when the
event is delivered.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from mercato.core.db import SYSTEM, set_tenant, tenant_of
from mercato.core.errors import Forbidden, NotFound, ValidationFailed
from mercato.core.hooks import provide_runner
from mercato.core.outbox import Event
from mercato.plugins import registry
from mercato.plugins.models import PluginSetting
from mercato.plugins.sdk import Manifest, PluginContext, Refusal
from mercato.settings import get_settings

log = structlog.get_logger("mercato.plugins")


@dataclass(frozen=True)
class PluginState:
    """An installed plugin and one organization's state of it (defaults when it has none)."""

    manifest: Manifest
    enabled: bool
    config: dict[str, Any]
    priority: int


def _state(manifest: Manifest, row: PluginSetting | None) -> PluginState:
    if row is None:
        return PluginState(manifest, False, {}, manifest.default_priority)
    return PluginState(manifest, row.enabled, dict(row.config), row.priority)


def _row(session: Session, name: str) -> PluginSetting | None:
    return session.scalar(select(PluginSetting).where(PluginSetting.plugin == name))


def _manifest(name: str) -> Manifest:
    manifest = registry.get(name)
    if manifest is None:
        raise NotFound(f"No plugin named {name!r} is installed on this server.")
    return manifest


def list_plugins(session: Session) -> list[PluginState]:
    """Every installed plugin with this organization's state, by name."""
    rows = {row.plugin: row for row in session.scalars(select(PluginSetting))}
    return [_state(m, rows.get(name)) for name, m in sorted(registry.installed().items())]


def get_plugin(session: Session, name: str) -> PluginState:
    manifest = _manifest(name)
    return _state(manifest, _row(session, name))


def config_errors(manifest: Manifest, config: dict[str, Any]) -> list[dict[str, str]]:
    """What is wrong with ``config`` under the plugin's settings schema, one entry per
    problem, each naming its field (``config.<path>``)."""
    validator = Draft202012Validator(dict(manifest.settings_schema))
    errors = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [r for r in error.validator_value if r not in error.instance]
            path = ".".join(p for p in (path, missing[0] if missing else "") if p)
        errors.append({"field": f"config.{path}" if path else "config",
                       "message": error.message})
    return errors


def configure(session: Session, name: str, *, enabled: bool, config: dict[str, Any],
              priority: int | None, permissions: Collection[str]) -> PluginState:
    """Enable or disable the plugin for the session's organization, with this configuration.
    ``permissions``: the caller's; enabling needs every permission the plugin declares
    (403 otherwise), so nobody gives a plugin more than they hold. A configuration the
    schema refuses is a 422 naming each field, and nothing changes."""
    manifest = _manifest(name)
    errors = config_errors(manifest, config)
    if errors:
        raise ValidationFailed(f"The configuration does not fit the {name} plugin's settings.",
                               errors=errors)
    missing = sorted(set(manifest.permissions) - set(permissions))
    if enabled and missing:
        raise Forbidden(f"Enabling {name} needs the permission(s): {', '.join(missing)}.",
                        extra={"missing_permissions": missing})
    row = _row(session, name)
    if row is None:
        row = PluginSetting(plugin=name, priority=manifest.default_priority)
        session.add(row)
    row.enabled, row.config = enabled, config
    if priority is not None:
        row.priority = priority
    session.flush()
    return _state(manifest, row)


def remove(session: Session, name: str) -> None:
    """Disable the plugin for this organization and forget its configuration."""
    _manifest(name)
    row = _row(session, name)
    if row is not None:
        session.delete(row)
        session.flush()


def is_enabled(session: Session, name: str) -> bool:
    row = _row(session, name)
    return row is not None and row.enabled


@contextmanager
def _scoped(session: Session, organization_id: str) -> Iterator[Session]:
    """The session scoped to exactly this organization while a plugin runs (a worker's or a
    system session included), its previous scope restored after."""
    previous = tenant_of(session)
    set_tenant(session, organization_id)
    try:
        yield session
    finally:
        set_tenant(session, previous)


def _context(session: Session, organization_id: str, name: str,
             config: dict[str, Any]) -> PluginContext:
    return PluginContext(plugin=name, organization_id=organization_id, session=session,
                         config=config, allow_hosts=tuple(get_settings().webhook_allow_hosts))


def _refused(name: str, message: str, field: str | None) -> ValidationFailed:
    return ValidationFailed(f"The {name} plugin refused: {message}",
                            errors=[{"field": field or "plugin", "message": f"{name}: {message}"}],
                            extra={"plugin": name})


def run_before(session: Session, hook: str, data: dict[str, Any]) -> dict[str, Any]:
    """Run the session organization's enabled plugins that hook ``hook``, lowest priority
    first (ties by name), each given the data as the one before left it."""
    hooked = {name for name, m in registry.installed().items() if hook in m.before}
    organization_id = tenant_of(session)
    if not hooked or organization_id is None or organization_id == SYSTEM:
        return data  # no plugin hooks here (the usual case: no query at all)
    rows = list(session.scalars(
        select(PluginSetting)
        .where(PluginSetting.enabled.is_(True), PluginSetting.plugin.in_(sorted(hooked)),
               PluginSetting.organization_id == organization_id)
        .order_by(PluginSetting.priority, PluginSetting.plugin)))
    for row in rows:
        manifest = registry.get(row.plugin)
        if manifest is None:
            continue
        ctx = _context(session, organization_id, row.plugin, dict(row.config))
        try:
            with _scoped(session, organization_id):
                result = manifest.before[hook](ctx, copy.deepcopy(data))
        except Refusal as refusal:
            raise _refused(row.plugin, refusal.message, refusal.field) from None
        except Exception as exc:  # a broken plugin refuses rather than let through unchecked
            log.exception("plugin_hook_failed", plugin=row.plugin, hook=hook)
            raise _refused(row.plugin, f"the plugin failed ({type(exc).__name__})",
                           None) from None
        if result is None:
            continue
        if not isinstance(result, dict):
            raise _refused(row.plugin, f"{hook} returned {type(result).__name__}, not a dict",
                           None)
        data = result
    return data


def _wants(hook: str) -> bool:
    return any(hook in m.before for m in registry.installed().values())


provide_runner(run_before, _wants)


@registry.enabled_in.provide
def enabled_in(session: Session, organization_id: str, name: str) -> bool:
    with _scoped(session, organization_id):
        return bool(session.scalar(select(PluginSetting.enabled).where(
            PluginSetting.plugin == name)))


@registry.run_after.provide
def run_after(session: Session, name: str, event: Event) -> None:
    """One plugin's after hook for one event (its outbox subscriber): nothing when the
    event's organization has not enabled it; an exception is retried by the outbox."""
    manifest = registry.get(name)
    hook = manifest.after.get(event.type) if manifest is not None else None
    if hook is None:
        return
    with _scoped(session, event.organization_id):
        row = _row(session, name)
        if row is None or not row.enabled:
            return
        hook(_context(session, event.organization_id, name, dict(row.config)), event)
