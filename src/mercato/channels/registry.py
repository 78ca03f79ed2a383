"""Which code runs each connector kind's jobs and pushes, and each connection's circuit
breaker (per process: a platform that fails for one job fails for the pusher too).

Connectors register themselves (``register``) when their package is imported; the app
imports them at start-up through ``channels/connectors.py``. The registry imports none."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mercato.channels.toolkit import ChannelError, CircuitBreaker, ErrorKind
from mercato.core.errors import ValidationFailed

if TYPE_CHECKING:
    from mercato.channels.jobs import JobContext
    from mercato.channels.push import PushEntry, PushResult
    from mercato.channels.service import ConnectionConfig

JobFunc = Callable[["JobContext"], Coroutine[Any, Any, Any]]
PushFunc = Callable[["ConnectionConfig", list["PushEntry"]],
                    Coroutine[Any, Any, list["PushResult"]]]


@dataclass
class ConnectorKind:
    jobs: dict[str, JobFunc] = field(default_factory=dict)
    push: PushFunc | None = None


_kinds: dict[str, ConnectorKind] = {}
_breakers: dict[str, CircuitBreaker] = {}


def register(kind: str, *, jobs: dict[str, JobFunc], push: PushFunc | None) -> None:
    _kinds[kind] = ConnectorKind(dict(jobs), push)


def job_runner(kind: str, job_kind: str) -> JobFunc:
    func = _kinds.get(kind, ConnectorKind()).jobs.get(job_kind)
    if func is None:
        async def unsupported(ctx: JobContext) -> None:
            raise ChannelError(ErrorKind.VALIDATION,
                               f"A {kind} connection has no {job_kind} sync.")
        return unsupported
    return func


def supports(kind: str, job_kind: str) -> None:
    """422 when the connector cannot run that job."""
    if job_kind not in _kinds.get(kind, ConnectorKind()).jobs:
        raise ValidationFailed(f"A {kind} connection has no {job_kind} sync.", errors=[
            {"field": "kind", "message": f"not supported by {kind}"}])


def pusher(kind: str) -> PushFunc | None:
    return _kinds.get(kind, ConnectorKind()).push


def breaker_for(connection_id: str) -> CircuitBreaker:
    breaker = _breakers.get(connection_id)
    if breaker is None:
        breaker = _breakers[connection_id] = CircuitBreaker()
    return breaker
