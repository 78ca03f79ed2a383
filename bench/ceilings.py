"""The ceilings: the fastest this machine can serve anything, measured in the same run.

Absolute req/s mean little across machines (and this one has two cores shared by the server,
the database and the load generator), so later benchmarks report ratios against these:

* ``noop``: GET /health, an async route with no database. The HTTP + framework ceiling.
* ``auth_read``: GET /api/v1/me with a bearer token: the unit of work, token check, staff
  lookup, organization lookup, a pydantic response. The floor under every authenticated read;
  list endpoints are compared with it.
* ``hot_row``: POST /bench/hot-row: the full write stack plus one conditional UPDATE on a row
  every request contends for. The ceiling for write endpoints. The counter is read before and
  after, and must have dropped by exactly the number of 2xx responses: proof the work happened.
"""

from __future__ import annotations

from bench.hot_row import create_counter, read_counter
from bench.loadgen import RequestTemplate
from bench.registry import Context, Row, register
from bench.stack import stack

CASES = ("noop", "auth_read", "hot_row")


@register("ceilings", description="no-op route, authenticated read, single hot-row update",
          uses_ceilings=False)
def ceilings(ctx: Context) -> list[Row]:
    with stack(ctx.database, extensions=("bench.hot_row",), setup=create_counter) as s:
        auth = s.server.headers
        rows = [
            ctx.measure("noop", s.server, RequestTemplate("GET", "/health")),
            ctx.measure("auth_read", s.server, RequestTemplate("GET", "/api/v1/me", auth),
                        ceiling="noop"),
        ]
        hot = RequestTemplate("POST", "/bench/hot-row", auth)
        status, body = s.server.request(hot.method, hot.path, headers=auth)
        if status != 200:
            raise RuntimeError(f"POST /bench/hot-row answered {status}: {body[:500]!r}")
        before = read_counter(s.database_url)
        row = ctx.measure("hot_row", s.server, hot, ceiling="noop", check=False)
        after = read_counter(s.database_url)
        decreased, ok = before - after, row.result.ok_total
        row.extra["counter"] = {"before": before, "after": after, "decreased": decreased,
                                "ok_responses": ok, "exact": decreased == ok}
        row.extra["note"] = (f"counter decreased by {decreased:,} for {ok:,} 2xx responses "
                             f"(warm-up and drain included): "
                             f"{'exact' if decreased == ok else 'MISMATCH'}")
        rows.append(row)
        return rows
