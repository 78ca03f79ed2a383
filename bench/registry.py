"""Benchmarks register here by name; each returns rows the runner prints and saves.

A benchmark is a function ``(Context) -> list[Row]`` called once per database. It builds its
own stack (``bench.stack.stack``), because each needs different data, and measures cases with
``Context.measure``. A row may name a ``ceiling``: the ``ceilings`` case it should be compared
with (``noop``, ``auth_read`` or ``hot_row``); the runner fills in ``ratio`` from the ceilings
measured on the same database in the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.loadgen import LoadResult, LoadSpec, RequestTemplate, run_in_process
from bench.stack import Server


@dataclass
class Row:
    benchmark: str
    database: str
    case: str
    result: LoadResult
    concurrency: int
    ceiling: str | None = None
    """The ``ceilings`` case this row is compared with (``ratio`` = rps / its rps)."""
    ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Benchmark-specific facts worth keeping (counts, checks), printed as notes."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    """What one benchmark run on one database is given: where and how hard to measure."""

    benchmark: str
    database: str
    duration: float
    warmup: float
    concurrency: int

    def measure(self, case: str, server: Server, template: RequestTemplate, *,
                ceiling: str | None = None, concurrency: int | None = None,
                check: bool = True) -> Row:
        """Load ``server`` with ``template`` from a separate process and return the row.

        ``check`` sends the request once first and fails fast unless it answers 2xx, so a
        broken setup reads as an error instead of as a fast benchmark of error responses.
        """
        if check and template.vary is None:
            status, body = server.request(template.method, template.path,
                                          template.body or None, dict(template.headers))
            if not 200 <= status < 300:
                raise RuntimeError(f"{template.method} {template.path} answered {status}: "
                                   f"{body[:500]!r}")
        connections = concurrency or self.concurrency
        result = run_in_process(LoadSpec(
            server.host, server.port, template, concurrency=connections,
            duration=self.duration, warmup=self.warmup, cpu_pids=server.pids,
        ))
        row = Row(self.benchmark, self.database, case, result, connections, ceiling=ceiling)
        if result.non_2xx or result.errors:
            row.extra["server_log_tail"] = server.log_tail(20)
        return row


@dataclass(frozen=True)
class Benchmark:
    name: str
    run: Callable[[Context], list[Row]]
    description: str
    uses_ceilings: bool
    """True when its rows name a ceiling, so the runner measures ceilings in the same run."""


REGISTRY: dict[str, Benchmark] = {}


def register(name: str, *, description: str, uses_ceilings: bool = True
             ) -> Callable[[Callable[[Context], list[Row]]], Callable[[Context], list[Row]]]:
    """Decorator: make ``fn`` runnable as ``python -m bench <name>``."""

    def decorate(fn: Callable[[Context], list[Row]]) -> Callable[[Context], list[Row]]:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY[name] = Benchmark(name, fn, description, uses_ceilings)
        return fn

    return decorate
