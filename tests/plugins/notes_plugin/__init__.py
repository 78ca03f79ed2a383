"""A test plugin that ships a migration: a tenant table of its own, ``test_plugin_notes``.

Its manifest names its versions directory (``migrations``); its model lives in
``models`` and is imported only by the tests that install it, so Mercato's own metadata
(tests/test_migrations.py: models == migrations) never holds it otherwise.
"""

from __future__ import annotations

from mercato.plugins import Manifest

manifest = Manifest(name="test-notes", version="1.0",
                    description="Keeps notes in a table of its own",
                    migrations="tests.plugins.notes_plugin:migrations")

missing_migrations = Manifest(name="test-lost-notes", version="1.0",
                              migrations="tests.plugins.notes_plugin:no_such_dir")

unlabelled = Manifest(name="test-unlabelled", version="1.0",
                      migrations="tests.plugins.notes_plugin:unlabelled_migrations")
