"""Plugins: Python distributions, installed on the server, that organizations enable.

What a plugin imports (docs/plugins.md): ``Manifest`` (its declaration, named by an entry
point in the group ``mercato.plugins``), ``PluginContext`` (what each hook receives: the
organization's scoped session, its id and its configuration) and ``Refusal`` (what a
``before_*`` hook raises to refuse). ``installed`` is every plugin this process found;
``migration_locations`` their Alembic versions directories.
"""

from mercato.core.outbox import Event
from mercato.plugins.registry import installed, migration_locations
from mercato.plugins.sdk import AfterHookFunc, BeforeHookFunc, Manifest, PluginContext, Refusal

__all__ = ["AfterHookFunc", "BeforeHookFunc", "Event", "Manifest", "PluginContext", "Refusal",
           "installed", "migration_locations"]
