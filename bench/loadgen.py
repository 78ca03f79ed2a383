"""A closed-loop HTTP/1.1 keep-alive load generator on raw asyncio sockets.

It runs in its own process (``run_in_process``), so it never shares an interpreter with the
server under test, and it speaks just enough HTTP/1.1 (status line, Content-Length or chunked
bodies, keep-alive) to stay cheap: a full client such as httpx spends more CPU per request than
a small endpoint does, so it would measure itself instead of the server.

Each of N connections sends a request, waits for the whole response, and sends the next. Only
responses completed inside the measured window count; the warm-up before it fills connection
pools and caches. Latency is therefore "under saturation at N connections" (closed loop), not
latency at a fixed offered rate.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import pickle
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Vary = Callable[[int], tuple[Mapping[str, str], bytes]]
"""Per-request variation: sequence number -> (extra headers, body). Must be picklable
(a module-level function), because it is sent to the load generator's process."""

PICKLED = "--pickled-spec-on-stdin"

SOCKET_ERRORS = (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                 ValueError)
"""What a broken connection or a malformed response raises; counted, then reconnected."""


@dataclass(frozen=True)
class RequestTemplate:
    """The request every connection sends, optionally varied per request by ``vary``."""

    method: str = "GET"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    vary: Vary | None = None

    def encode(self, host: str, seq: int | None = None) -> bytes:
        headers = dict(self.headers)
        body = self.body
        if self.vary is not None and seq is not None:
            extra, body = self.vary(seq)
            headers.update(extra)
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class LoadSpec:
    host: str
    port: int
    template: RequestTemplate
    concurrency: int = 16
    duration: float = 10.0
    warmup: float = 2.0
    cpu_pids: tuple[int, ...] = ()
    """Processes whose CPU use during the window is reported (the server under test)."""
    drain_timeout: float = 30.0


@dataclass
class LoadResult:
    requests: int
    """Responses completed inside the measured window."""
    duration: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    errors: int
    """Socket errors and malformed responses inside the window."""
    status_counts: dict[int, int]
    ok_total: int
    """2xx responses over the whole run (warm-up and drain too): what the server committed."""
    errors_total: int
    sample_error: str | None = None
    sample_non_2xx: str | None = None
    client_cpu: float | None = None
    """Cores used by this load generator during the window (1.0 = one full core)."""
    server_cpu: float | None = None
    """Cores used by ``LoadSpec.cpu_pids`` during the window, when /proc can tell."""
    machine_cpu: float | None = None
    """Cores busy machine-wide during the window: beyond server + client it is the database
    server (PostgreSQL) or other work on the machine, which makes the numbers noisy."""
    event_loop: str = "asyncio"


@dataclass
class _State:
    measuring: bool = False
    stopping: bool = False
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    ok_total: int = 0
    errors_total: int = 0
    sample_error: str | None = None
    sample_non_2xx: str | None = None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields
            return b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """One response: (status, body, connection may be reused)."""
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        raise ValueError(f"not an HTTP/1.x response: {head[:40]!r}")
    status = int(head[9:12])
    lower = head.lower()
    keep = b"\r\nconnection: close" not in lower and head.startswith(b"HTTP/1.1")
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        body = await reader.readexactly(int(head[at + 17:end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        body = await _read_chunked(reader)
    elif status in (204, 304) or status < 200:
        body = b""
    else:  # no framing: the body runs until the server closes
        body = await reader.read()
        keep = False
    return status, body, keep


async def _connection(spec: LoadSpec, state: _State, seq: Iterator[int]) -> None:
    host = f"{spec.host}:{spec.port}"
    fixed = None if spec.template.vary else spec.template.encode(host)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while not state.stopping:
        try:
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection(spec.host, spec.port)
            payload = fixed if fixed is not None else spec.template.encode(host, next(seq))
            started = time.perf_counter()
            writer.write(payload)
            status, body, keep = await read_response(reader)
            elapsed = time.perf_counter() - started
        except SOCKET_ERRORS as exc:
            state.errors_total += 1
            if state.measuring:
                state.errors += 1
                state.sample_error = state.sample_error or f"{type(exc).__name__}: {exc}"
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)  # do not spin on a refused connection
            continue
        if 200 <= status < 300:
            state.ok_total += 1
        if state.measuring:
            state.latencies.append(elapsed)
            state.statuses[status] += 1
            if not 200 <= status < 300 and state.sample_non_2xx is None:
                state.sample_non_2xx = f"{status} {body[:300].decode('utf-8', 'replace')}"
        if not keep and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def _cpu_seconds(pids: tuple[int, ...]) -> float | None:
    """User + system CPU seconds of ``pids`` from /proc (None where unavailable)."""
    total = 0.0
    try:
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return total


def _machine_cpu_seconds() -> float | None:
    """Busy (non-idle, non-iowait) CPU seconds summed over all cores, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]  # user..steal, minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _rate(start: float | None, end: float | None, seconds: float) -> float | None:
    return None if start is None or end is None else (end - start) / seconds


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def _run(spec: LoadSpec) -> LoadResult:
    state = _State()
    seq = itertools.count()
    tasks = [asyncio.create_task(_connection(spec, state, seq)) for _ in range(spec.concurrency)]
    await asyncio.sleep(spec.warmup)
    server0, machine0 = _cpu_seconds(spec.cpu_pids), _machine_cpu_seconds()
    client0, t0 = time.process_time(), time.perf_counter()
    state.measuring = True
    await asyncio.sleep(spec.duration)
    state.measuring = False
    server1, machine1 = _cpu_seconds(spec.cpu_pids), _machine_cpu_seconds()
    client1, t1 = time.process_time(), time.perf_counter()
    state.stopping = True  # each connection finishes its in-flight request, then closes
    done, pending = await asyncio.wait(tasks, timeout=spec.drain_timeout)
    for task in pending:
        task.cancel()
    for task in done:
        task.result()  # a bug in the load generator must not pass as a measurement
    if pending:
        raise RuntimeError(f"{len(pending)} connections still waiting for a response "
                           f"{spec.drain_timeout}s after the window closed")
    elapsed = t1 - t0
    latencies = sorted(state.latencies)
    ok = sum(n for status, n in state.statuses.items() if 200 <= status < 300)
    return LoadResult(
        requests=len(latencies),
        duration=elapsed,
        rps=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p95_ms=percentile(latencies, 0.95) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        max_ms=(latencies[-1] if latencies else 0.0) * 1000,
        non_2xx=len(latencies) - ok,
        errors=state.errors,
        status_counts=dict(sorted(state.statuses.items())),
        ok_total=state.ok_total,
        errors_total=state.errors_total,
        sample_error=state.sample_error,
        sample_non_2xx=state.sample_non_2xx,
        client_cpu=(client1 - client0) / elapsed,
        server_cpu=_rate(server0, server1, elapsed),
        machine_cpu=_rate(machine0, machine1, elapsed),
    )


def run_load(spec: LoadSpec) -> LoadResult:
    """Run the load in this process, on uvloop when it is installed (cheaper per request)."""
    try:
        import uvloop
    except ImportError:
        with asyncio.Runner() as runner:
            return runner.run(_run(spec))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        result = runner.run(_run(spec))
    result.event_loop = "uvloop"
    return result


def run_in_process(spec: LoadSpec) -> LoadResult:
    """Run the load in a fresh interpreter, so it never shares a CPU-bound GIL with the caller.

    A plain subprocess (spec in on stdin, result out on stdout, both pickled) rather than
    multiprocessing: spawn would re-import the caller's ``__main__`` script in the child.
    """
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "bench.loadgen", PICKLED],
                          input=pickle.dumps(spec), capture_output=True, cwd=root, env=env,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({done.returncode}):\n"
                           f"{done.stderr.decode(errors='replace')}")
    result: LoadResult = pickle.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.loadgen URL``: ad-hoc load against any running server."""
    argv = sys.argv[1:] if argv is None else argv
    if argv == [PICKLED]:  # run_in_process's child
        from bench import loadgen  # not __main__: results must unpickle in the parent

        spec = pickle.loads(sys.stdin.buffer.read())
        sys.stdout.buffer.write(pickle.dumps(loadgen.run_load(spec)))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=main.__doc__)
    parser.add_argument("url")
    parser.add_argument("-X", "--method", default="GET")
    parser.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("-d", "--data", default="", help="request body")
    parser.add_argument("-c", "--concurrency", type=int, default=16)
    parser.add_argument("-t", "--duration", type=float, default=10.0)
    parser.add_argument("-w", "--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    url = urlsplit(args.url)
    headers = dict(h.split(":", 1) for h in args.header)
    template = RequestTemplate(
        method=args.method.upper(),
        path=(url.path or "/") + (f"?{url.query}" if url.query else ""),
        headers={k.strip(): v.strip() for k, v in headers.items()},
        body=args.data.encode(),
    )
    spec = LoadSpec(url.hostname or "127.0.0.1", url.port or 80, template,
                    concurrency=args.concurrency, duration=args.duration, warmup=args.warmup)
    result: dict[str, Any] = vars(run_load(spec))
    for key, value in result.items():
        print(f"{key:>14}  {round(value, 2) if isinstance(value, float) else value}")


if __name__ == "__main__":
    main()
