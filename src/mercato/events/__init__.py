"""Events as an operator and the world outside see them: the outbox's dead letters (listed and
replayed, ``api.py`` and ``mercato events dead|replay``) and the export of every committed event
to NATS JetStream (``nats.py``, on when ``MERCATO_NATS_URL`` is set). docs/events.md.

The outbox itself (recording, subscribing, delivering) is the kernel's, ``mercato.core.outbox``;
the dead-letter queries are ``mercato.core.dead_letters``. This module sits above every domain
module and nobody imports it but the entry points (``app.py``, ``cli.py``).

- ``configure(settings)``: subscribe the NATS export, or take it away, as the settings say
  (``app.load_modules`` calls it in every server and worker process).
"""

from __future__ import annotations

from mercato.events.nats import configure

__all__ = ["configure"]
