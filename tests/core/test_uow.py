"""The unit of work's route: GET endpoints run on a bounded pool of their own, writes do not."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy import text
from sqlalchemy.orm import Session

from mercato.core.db import Database
from mercato.core.uow import MercatoRoute, get_session
from tests.conftest import LiveServer, make_settings


class Probe:
    """Counts the endpoints running at once; reads wait until released."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.entered = 0
        self.release = threading.Event()

    def enter(self) -> None:
        with self.lock:
            self.running += 1
            self.entered += 1
            self.most = max(self.most, self.running)

    def leave(self) -> None:
        with self.lock:
            self.running -= 1


async def anonymous(request: Request) -> None:
    return None


def probe_app(database_url: str, db: Database, probe: Probe, read_threads: int) -> FastAPI:
    app = FastAPI()
    app.state.db = db
    app.state.settings = make_settings(database_url, read_threads=read_threads)
    app.state.authenticator = anonymous  # POST routes ask it for the Idempotency-Key's owner
    router = APIRouter(route_class=MercatoRoute)

    @router.get("/probe/read")
    def read(session: Session = Depends(get_session)) -> dict[str, int]:
        value = int(session.execute(text("SELECT 1")).scalar_one())
        probe.enter()
        try:
            probe.release.wait(timeout=20)
        finally:
            probe.leave()
        return {"value": value}

    @router.post("/probe/write")
    def write(session: Session = Depends(get_session)) -> dict[str, int]:
        return {"value": int(session.execute(text("SELECT 2")).scalar_one())}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(router)
    return app


@pytest.mark.parametrize("read_threads", [1, 3])
def test_reads_in_flight_never_outnumber_the_read_threads_and_writes_pass_them(
    database_url: str, db: Database, read_threads: int
) -> None:
    probe = Probe()
    with LiveServer(probe_app(database_url, db, probe, read_threads)) as server, \
            ThreadPoolExecutor(max_workers=8) as pool, httpx.Client(base_url=server.url,
                                                                    timeout=30) as client:
        reads = [pool.submit(httpx.get, f"{server.url}/probe/read", timeout=30)
                 for _ in range(8)]
        try:
            deadline = time.monotonic() + 10
            while probe.entered < read_threads and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)  # time for more reads to get in, were the pool any larger
            assert probe.entered == read_threads
            # every read thread is taken, yet a write is answered at once
            write = client.post("/probe/write")
            assert (write.status_code, write.json()) == (200, {"value": 2})
            assert probe.entered == read_threads
        finally:
            probe.release.set()
        answers = [r.result() for r in reads]
    assert [(a.status_code, a.json()) for a in answers] == [(200, {"value": 1})] * 8
    assert probe.most == read_threads
    assert probe.entered == 8
