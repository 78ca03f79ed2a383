"""Channel connectors: connections, sync jobs, the client toolkit, one package per platform.

This package is channels' face for web skins (the admin's pages): the connection's use cases
(``get_connection``, ``connections_by_channel``, ``connect``, ``disconnect``,
``connection_out``), the sync jobs' (``create_job``, ``job_history``, ``get_job``,
``job_errors``, ``cancel_job``, ``retry_job``) and which jobs a connector runs
(``job_kinds``, ``runs``, ``supports``), as ``channels.api`` calls them.
"""

from __future__ import annotations

from mercato.channels.jobs import (
    cancel_job,
    create_job,
    get_job,
    job_errors,
    retry_job,
    subscribe_if_changed,
)
from mercato.channels.jobs import history as job_history
from mercato.channels.registry import job_kinds, runs, supports
from mercato.channels.service import (
    connect,
    connection_out,
    connections_by_channel,
    disconnect,
    get_connection,
)

__all__ = [
    "cancel_job",
    "connect",
    "connection_out",
    "connections_by_channel",
    "create_job",
    "disconnect",
    "get_connection",
    "get_job",
    "job_errors",
    "job_history",
    "job_kinds",
    "retry_job",
    "runs",
    "subscribe_if_changed",
    "supports",
]
