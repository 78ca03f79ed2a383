"""``python -m bench``: run registered benchmarks, print a table, save the results as JSON.

Performance is measured and reported, never asserted: nothing here fails because a number is
low. The JSON keeps what is needed to compare two runs honestly (machine, versions, commit,
settings) next to every row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import stack
from bench.loadgen import LoadResult
from bench.registry import REGISTRY, Context, Row
from bench.stack import BACKENDS, PG_ROLE, ROOT, postgres_version

BENCHMARK_MODULES = ("bench.ceilings", "bench.catalog", "bench.inventory",
                     "bench.orders", "bench.checkout", "bench.channels", "bench.marketplaces",
                     "bench.pages", "bench.webhooks")
"""Modules that register benchmarks when imported; add yours here."""

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CEILINGS = "ceilings"
PACKAGES = ("mercato", "fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic",
            "sqlalchemy", "psycopg")


def load_benchmarks() -> None:
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info(databases: list[str]) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgres": postgres_version() if "postgresql" in databases else None,
        "postgres_role": PG_ROLE if "postgresql" in databases else None,
        "packages": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--", "src")),
    }


def ceilings_of(rows: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """(database, case) -> req/s of the ceilings rows among ``rows`` (JSON form)."""
    return {(r["database"], r["case"]): float(r["result"]["rps"])
            for r in rows if r["benchmark"] == CEILINGS and r["result"]["requests"]}


def latest_ceilings(results_dir: Path = RESULTS_DIR) -> dict[tuple[str, str], float]:
    """Ceilings from the newest saved run that measured them, per database.

    For comparing against an earlier run; measuring them in the same run (the default) is
    better, since a busy machine moves every number together.
    """
    found: dict[tuple[str, str], float] = {}
    for path in sorted(results_dir.glob("*.json"), reverse=True):
        try:
            rows = json.loads(path.read_text())["rows"]
        except (OSError, ValueError, KeyError):
            continue
        for key, rps in ceilings_of(rows).items():
            found.setdefault(key, rps)
    return found


def apply_ratios(rows: list[Row], ceilings: dict[tuple[str, str], float]) -> None:
    for row in rows:
        base = ceilings.get((row.database, row.ceiling)) if row.ceiling else None
        row.ratio = row.result.rps / base if base else None


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _cpu(result: LoadResult) -> str:
    values = (result.server_cpu, result.client_cpu, result.machine_cpu)
    return "/".join("?" if v is None else f"{v:.1f}" for v in values)


def format_table(rows: list[Row]) -> str:
    """A plain-text table, one line per row, then any notes the benchmarks attached."""
    header = ["benchmark", "database", "case", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
              "non-2xx", "errors", "ratio", "cpu srv/cli/all"]
    lines = [[r.benchmark, r.database, r.case, f"{r.result.rps:.0f}", _ms(r.result.p50_ms),
              _ms(r.result.p95_ms), _ms(r.result.p99_ms), _ms(r.result.max_ms),
              str(r.result.non_2xx), str(r.result.errors),
              "-" if r.ratio is None else f"{r.ratio:.2f}" + (f" of {r.ceiling}"),
              _cpu(r.result)] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    left = {0, 1, 2, 10}

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [fmt(header), fmt(["-" * w for w in widths]), *(fmt(line) for line in lines)]
    for r in rows:
        prefix = f"{r.benchmark}/{r.database}/{r.case}"
        if "note" in r.extra:
            out.append(f"* {prefix}: {r.extra['note']}")
        if r.result.non_2xx:
            out.append(f"* {prefix}: statuses {r.result.status_counts}, first non-2xx: "
                       f"{r.result.sample_non_2xx}")
        if r.result.errors:
            out.append(f"* {prefix}: {r.result.errors} socket errors, first: "
                       f"{r.result.sample_error}")
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run registered benchmarks, print a table, save the results as JSON.")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(REGISTRY)}")
    parser.add_argument("--db", default=",".join(BACKENDS),
                        help="comma-separated databases (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="measured seconds per case (default: %(default)s)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="unmeasured seconds before each case (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="connections per case (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=stack.SERVER_WORKERS,
                        help="server processes, ceilings included (default: %(default)s, or "
                             "MERCATO_BENCH_WORKERS)")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--reuse-ceilings", action="store_true",
                        help="take ceilings from the newest saved run instead of measuring them")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    args.databases = [d.strip() for d in args.db.split(",") if d.strip()]
    for database in args.databases:
        if database not in BACKENDS:
            parser.error(f"unknown database {database!r}; choose from {', '.join(BACKENDS)}")
    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    return args


def main(argv: list[str] | None = None) -> int:
    load_benchmarks()
    args = parse_args(argv)
    stack.SERVER_WORKERS = args.workers
    names: list[str] = list(args.names or REGISTRY)
    if (not args.reuse_ceilings and CEILINGS not in names
            and any(REGISTRY[n].uses_ceilings for n in names)):
        names.insert(0, CEILINGS)  # ratios are only honest against ceilings from this run
    if args.reuse_ceilings and CEILINGS in names and not args.names:
        names.remove(CEILINGS)
    started = dt.datetime.now(dt.UTC)
    load_start = os.getloadavg()[0]
    rows: list[Row] = []
    failures: list[dict[str, str]] = []
    for database in args.databases:
        for name in names:
            print(f"running {name} on {database} ...", file=sys.stderr, flush=True)
            ctx = Context(name, database, args.duration, args.warmup, args.concurrency)
            try:
                rows.extend(REGISTRY[name].run(ctx))
            except Exception as exc:
                traceback.print_exc()
                failures.append({"benchmark": name, "database": database,
                                 "error": f"{type(exc).__name__}: {exc}",
                                 "traceback": traceback.format_exc()})
    ceilings = ceilings_of([r.to_json() for r in rows])
    if args.reuse_ceilings:
        ceilings = {**latest_ceilings(), **ceilings}
    apply_ratios(rows, ceilings)

    load_end = os.getloadavg()[0]
    print(format_table(rows))
    print(f"cpu = cores busy during the window: server ({args.workers} worker process(es)) / "
          f"load generator / whole "
          f"machine. Load average (1 min) {load_start:.2f} at start, {load_end:.2f} at end, "
          f"on {os.cpu_count()} CPUs.")
    for failure in failures:
        print(f"! {failure['benchmark']} on {failure['database']} failed: {failure['error']}")
    report = {
        "timestamp": started.isoformat(timespec="seconds"),
        "machine": {**machine_info(args.databases), "loadavg_start": load_start,
                    "loadavg_end": load_end},
        "config": {"names": names, "databases": args.databases, "duration": args.duration,
                   "warmup": args.warmup, "concurrency": args.concurrency,
                   "workers": args.workers, "reuse_ceilings": args.reuse_ceilings},
        "rows": [r.to_json() for r in rows],
        "failures": failures,
    }
    payload = json.dumps(report, indent=2, default=str) + "\n"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    paths = [RESULTS_DIR / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"]
    if args.out:
        paths.append(args.out)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(payload)
        print(f"wrote {path}", file=sys.stderr)
    return 1 if failures else 0
