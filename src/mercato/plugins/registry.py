"""The plugins installed on this server: found through the ``mercato.plugins`` entry points.

Discovery reads ``importlib.metadata``'s entry points once per process (``installed()``), and
checks each manifest (a valid name, known hook points, a valid JSON Schema, known
permissions). A plugin that fails to import or to pass the checks is logged and skipped: a
broken plugin never stops the server or the worker from starting. Each plugin with ``after``
hooks gets one outbox subscriber, ``plugin:<name>``, so its retries and its order per resource
are its own and one failing plugin never holds back another.
"""

from __future__ import annotations

import threading
from importlib.metadata import EntryPoint, entry_points
from importlib.resources import files
from pathlib import Path
from typing import Any

import structlog
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from sqlalchemy.orm import Session

from mercato.core.hooks import BEFORE_HOOKS
from mercato.core.outbox import Event, subscribe, unsubscribe
from mercato.core.ports import Port
from mercato.identity.service import PERMISSIONS
from mercato.plugins.sdk import NAME, Manifest

log = structlog.get_logger("mercato.plugins")

GROUP = "mercato.plugins"
HANDLER_PREFIX = "plugin:"

_lock = threading.Lock()
_installed: dict[str, Manifest] | None = None


class InvalidManifest(ValueError):
    """A plugin's manifest breaks a rule (its message says which): the plugin is skipped."""


def check(manifest: Any) -> Manifest:
    """The manifest if it is usable, else ``InvalidManifest`` saying why."""
    if not isinstance(manifest, Manifest):
        raise InvalidManifest(f"the entry point gives {type(manifest).__name__}, not a "
                              "mercato.plugins.Manifest")
    if not NAME.match(manifest.name):
        raise InvalidManifest(f"name {manifest.name!r} is not lower-case letters, digits and "
                              "dashes (2 to 63)")
    unknown = sorted(set(manifest.before) - set(BEFORE_HOOKS))
    if unknown:
        raise InvalidManifest(f"unknown hook points {unknown}; known: {list(BEFORE_HOOKS)}")
    if any("." not in event_type for event_type in manifest.after):
        raise InvalidManifest("after hooks are keyed by event type, e.g. 'order.created'")
    try:
        Draft202012Validator.check_schema(dict(manifest.settings_schema))
    except SchemaError as exc:
        raise InvalidManifest(f"settings_schema is not a JSON Schema: {exc.message}") from None
    unknown = sorted(set(manifest.permissions) - set(PERMISSIONS))
    if unknown:
        raise InvalidManifest(f"unknown permissions {unknown}")
    if manifest.routes is not None and not callable(manifest.routes):
        raise InvalidManifest("routes must be a function returning an APIRouter")
    if manifest.migrations is not None:
        migrations_dir(manifest)
    return manifest


def migrations_dir(manifest: Manifest) -> Path | None:
    """The directory of the plugin's Alembic revisions (``migrations``, ``"package:subdir"``
    or ``"package"``), or None when it ships none; ``InvalidManifest`` when it is not an
    importable package's directory on disk (Alembic reads revisions from files)."""
    if manifest.migrations is None:
        return None
    package, _, subdir = manifest.migrations.partition(":")
    try:
        root = files(package)
    except (ImportError, TypeError, ValueError) as exc:
        raise InvalidManifest(f"migrations {manifest.migrations!r}: package {package!r} "
                              f"cannot be imported ({exc})") from None
    resource = root.joinpath(*subdir.split("/")) if subdir else root
    path = Path(str(resource))
    if not path.is_dir():
        raise InvalidManifest(f"migrations {manifest.migrations!r} is not a directory "
                              "in the plugin's distribution")
    return path


def migration_locations() -> dict[str, Path]:
    """Each installed plugin's versions directory, by plugin name (those that ship one):
    Mercato's Alembic environment adds them to its ``version_locations``."""
    found: dict[str, Path] = {}
    for name, manifest in installed().items():
        path = migrations_dir(manifest)
        if path is not None:
            found[name] = path
    return found


def _load(entry: EntryPoint) -> Manifest:
    value = entry.load()
    if callable(value) and not isinstance(value, Manifest):
        value = value()
    return check(value)


def discover() -> dict[str, Manifest]:
    """Every usable installed plugin by name (read now; ``installed()`` caches it)."""
    found: dict[str, Manifest] = {}
    for entry in entry_points(group=GROUP):
        try:
            manifest = _load(entry)
        except Exception as exc:  # a broken plugin is skipped, never fatal
            log.error("plugin_skipped", entry_point=entry.name, value=entry.value,
                      error=f"{type(exc).__name__}: {exc}")
            continue
        if manifest.name in found:
            log.error("plugin_skipped", entry_point=entry.name, value=entry.value,
                      error=f"another plugin is named {manifest.name!r}")
            continue
        found[manifest.name] = manifest
    return found


def installed() -> dict[str, Manifest]:
    """The installed plugins, discovered on first use; their after hooks are subscribed."""
    global _installed
    with _lock:
        if _installed is None:
            _installed = discover()
            _subscribe(_installed)
        return dict(_installed)


def refresh() -> dict[str, Manifest]:
    """Discover again (tests that install a plugin at run time; a process otherwise reads
    its plugins once, at start)."""
    global _installed
    with _lock:
        if _installed is not None:
            for name in _installed:
                unsubscribe(HANDLER_PREFIX + name)
        _installed = None
    return installed()


def get(name: str) -> Manifest | None:
    return installed().get(name)


run_after: Port[[Session, str, Event], None] = Port("plugins.run_after",
                                                    "mercato.plugins.service")
"""Runs one plugin's after hook for an event (the service: it reads the organization's
settings of the plugin)."""

enabled_in: Port[[Session, str, str], bool] = Port("plugins.enabled_in", "mercato.plugins.service")
"""Whether an organization has the plugin enabled (``(session, organization_id, name)``): an
event is handed to a plugin's after hooks only where it is."""


def _subscribe(plugins: dict[str, Manifest]) -> None:
    for manifest in plugins.values():
        if not manifest.after:
            continue
        name = manifest.name

        def handler(session: Session, event: Event, _name: str = name) -> None:
            run_after(session, _name, event)

        def enabled(session: Session, organization_id: str, _name: str = name) -> bool:
            # a process that found the plugins without loading their service (a CLI seeding
            # the demo) records the delivery; the hook itself checks again when it runs
            return enabled_in(session, organization_id, _name) if enabled_in.provided else True

        subscribe(*manifest.after, name=HANDLER_PREFIX + name, when=enabled)(handler)
