"""Bulk work collects garbage less often, and gives the process its own setting back."""

from __future__ import annotations

import gc
import threading

import pytest

from mercato.catalog import imports
from mercato.core.collector import BULK_THRESHOLD, bulk_allocations
from mercato.core.db import Database


def test_overlapping_bulk_jobs_raise_the_threshold_and_the_last_one_restores_it() -> None:
    before = gc.get_threshold()
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[int, int, int]] = {}

    def first() -> None:
        with bulk_allocations():
            seen["first"] = gc.get_threshold()
            first_in.set()
            second_in.wait(10)
        seen["after_first"] = gc.get_threshold()
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with bulk_allocations():
            second_in.set()
            first_out.wait(10)
            seen["second_alone"] = gc.get_threshold()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    raised = (BULK_THRESHOLD, *before[1:])
    assert seen == {"first": raised, "after_first": raised, "second_alone": raised}
    assert gc.get_threshold() == before


def test_an_import_runs_with_the_bulk_threshold_and_a_failed_one_still_restores_it(
    monkeypatch: pytest.MonkeyPatch, db: Database
) -> None:
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []

    def run(*args: object) -> None:
        during.append(gc.get_threshold())
        raise RuntimeError("stop")

    monkeypatch.setattr(imports, "_run_job", run)
    with pytest.raises(RuntimeError):
        imports.run_job(db, "no-such-job")
    assert during == [(BULK_THRESHOLD, *before[1:])]
    assert gc.get_threshold() == before
