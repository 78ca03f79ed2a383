"""Bulk CSV import as a background job, and CSV export.

A job stores the uploaded file and is applied by a worker in batches of about
``BATCH_ROWS`` rows. Each batch is one transaction that also advances the job's ``rows_done``
(compare-and-set), so a crashed or duplicated runner never applies a batch twice, and a resumed
job starts after the last committed batch. Within a batch, rows are grouped by product: a
product and its variant rows are written together or not at all, and a bad row fails its own
product only. Writes are bulk Core statements; the search index, events and one audit entry per
job follow from them (``index.touch``, ``record_events``, ``identity.record_audit``).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import structlog
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Select, bindparam, delete, func, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mercato.catalog import csvio, ports
from mercato.catalog.index import products_t, reindex_pending, touch, variants_t
from mercato.catalog.models import (
    Category,
    Collection,
    ImportContent,
    ImportJob,
    ImportRowError,
    ProductCollection,
    ProductType,
)
from mercato.catalog.schemas import Media, ProductUpdate, VariantIn
from mercato.catalog.service import install_type_set, json_value, slugify
from mercato.catalog.validation import attribute_errors, validator_for
from mercato.core import csvcells
from mercato.core import queue as leases
from mercato.core.collector import bulk_allocations
from mercato.core.db import SYSTEM, Database, among, insert_many, table_of, utcnow
from mercato.core.errors import Conflict, NotFound, ValidationFailed
from mercato.core.ids import new_id
from mercato.core.outbox import NewEvent, record_events
from mercato.core.pagination import PageParams, Slice, paginate
from mercato.identity import record_audit

log = structlog.get_logger("mercato.catalog.import")

BATCH_ROWS = 2000
LEASE = dt.timedelta(seconds=120)
jobs_t = table_of(ImportJob)
errors_t = table_of(ImportRowError)
links_t = table_of(ProductCollection)
MEDIA = TypeAdapter(list[Media])
PRODUCT_FIELDS = ("title", "slug", "description", "status", "vendor", "category_id", "tags",
                  "media", "attributes")
VARIANT_FIELDS = ("sku", "barcode", "title", "price", "compare_at_price", "cost", "currency",
                  "weight_grams", "attributes")
COLUMN_OF = {"slug": "handle", "category_id": "category"}
VARIANT_COLUMN_OF = {"title": "variant_title", "attributes": "variant.attr"}


class Superseded(Exception):
    """Another runner advanced the job first (this one's lease had lapsed)."""


class _Stale(Exception):
    """A row changed between reading and writing it; its product is retried alone."""


# -- jobs --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckedFile:
    """An uploaded file whose header and rows ``check_file`` has read: importable."""

    content: bytes
    format: str
    rows: int
    stock_numbers: bool = False
    """A TCGplayer file whose Total Quantity or Add to Quantity cells hold something."""


def check_file(content: bytes, fmt: str | None,
               limits: csvio.CsvLimits | None = None) -> CheckedFile:
    """Read the header and count the rows, so a broken file is refused at once (422).

    It reads the whole file: call it before the transaction that stores the job begins (on
    SQLite a write transaction holds the database's one write lock, and every other write
    waited while a 40,000-column header was checked)."""
    header = csvio.scan(content, fmt, limits or csvio.CsvLimits())
    return CheckedFile(content=content, format=header.format, rows=header.rows,
                       stock_numbers=header.stock_numbers)


def _location(session: Session, checked: CheckedFile, location: str | None) -> str | None:
    """Where a TCGplayer file's quantities go: the location named (id or code), else the
    organization's only active location. 422 on ``location`` when one is named for a file
    with no stock columns, is unknown, or is needed and cannot be chosen."""
    if checked.format != "tcgplayer":
        if location:
            raise ValidationFailed("Only a TCGplayer file carries stock for a location.",
                                   errors=[{"field": "location", "message": (
                                       f"a {checked.format} file has no quantities")}])
        return None
    found = ports.stock_location(session, location or None)
    if found is None and checked.stock_numbers:
        raise ValidationFailed(
            "The file has Total Quantity or Add to Quantity numbers: say which location "
            "they are for.", errors=[{"field": "location", "message": (
                "required: the organization has no location, or more than one")}])
    return found


def create_job(session: Session, *, content: bytes | None = None,
               checked: CheckedFile | None = None, filename: str, fmt: str | None = None,
               dry_run: bool, created_by: str | None, claim: bool = False,
               location: str | None = None) -> ImportJob:
    """Store a job for a file ``check_file`` accepted (given ``content`` instead, it is
    checked here, inside the caller's transaction).

    ``location`` (id or code): where a TCGplayer file's quantities go (``_location``). A
    real import of a file with quantities records the file's SHA-256 at that location; the
    same bytes imported there again skip their Add to Quantity (``adds_skipped``)."""
    if checked is None:
        if content is None:
            raise TypeError("create_job needs the file: checked or content")
        checked = check_file(content, fmt)
    location_id = _location(session, checked, location)
    job = ImportJob(format=checked.format, filename=filename[:300], dry_run=dry_run,
                    rows_total=checked.rows, created_by=created_by, location_id=location_id,
                    status="running" if claim else "queued",
                    lease_until=utcnow() + LEASE if claim else None,
                    started_at=utcnow() if claim else None)
    session.add(job)
    session.flush()  # the job row first: its file's row refers to it
    session.add(ImportContent(job_id=job.id, content=checked.content))
    if location_id is not None and checked.stock_numbers and not dry_run:
        digest = hashlib.sha256(checked.content).hexdigest()
        job.adds_skipped = not ports.first_stock_file(session, location_id, digest,
                                                      f"import:{job.id}")
    session.flush()
    return job


def get_job(session: Session, job_id: str) -> ImportJob:
    job = session.get(ImportJob, job_id)
    if job is None:
        raise NotFound(f"No import {job_id!r}.")
    return job


def errors_query(job_id: str) -> Select[ImportRowError]:
    """A job's row errors; in id order, which is file order within each batch."""
    return select(ImportRowError).where(ImportRowError.job_id == job_id)


def job_errors(session: Session, job_id: str, *, limit: int) -> list[ImportRowError]:
    return list(session.scalars(errors_query(job_id).order_by(ImportRowError.id).limit(limit)))


def list_jobs(session: Session, params: PageParams) -> Slice[ImportJob]:
    """The organization's imports, newest first (ids grow with time)."""
    return paginate(session, select(ImportJob), [(ImportJob.id, True)], params)


def apply_dry_run(session: Session, job_id: str, *, created_by: str | None) -> ImportJob:
    """A new job that imports the file of a finished dry run for real (checked already)."""
    job = get_job(session, job_id)
    if not job.dry_run or job.status not in ("succeeded", "completed_with_errors"):
        raise Conflict("Only the file of a finished dry run can be imported from it.")
    content = session.scalar(select(ImportContent.content)
                             .where(ImportContent.job_id == job_id)) or b""
    return create_job(session, checked=CheckedFile(content=content, format=job.format,
                                                   rows=job.rows_total,
                                                   stock_numbers=job.location_id is not None),
                      filename=job.filename, dry_run=False, created_by=created_by,
                      location=job.location_id)


def error_page(session: Session, job_id: str, params: PageParams) -> Slice[ImportRowError]:
    """A page of a job's row errors, in file order within each batch (as the API lists them)."""
    get_job(session, job_id)
    return paginate(session, errors_query(job_id), [(ImportRowError.id, False)], params)


def failed_rows(session: Session, job_id: str) -> Iterator[str]:
    """The rows of a job's file that were not imported (each line with a row error), under the
    file's own header, as CSV text a chunk at a time: fix them and import the file again."""
    get_job(session, job_id)
    lines = set(session.scalars(select(ImportRowError.line)
                                .where(ImportRowError.job_id == job_id,
                                       ImportRowError.severity == "error").distinct()))
    content = session.scalar(select(ImportContent.content)
                             .where(ImportContent.job_id == job_id)) or b""
    buffer = io.StringIO()
    writer = csvcells.Writer(buffer, lineterminator="\n")
    reader = csv.reader(io.StringIO(content.decode("utf-8-sig", errors="replace"), newline=""))
    line = 0
    for number, values in enumerate(reader):
        start, line = line + 1, reader.line_num
        if number == 0 or start in lines:
            writer.writerow([csvcells.unescape(value) for value in values])
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


def claim_job(db: Database) -> str | None:
    """A queued job, or a running one whose runner stopped renewing its lease."""

    def claimable(now: dt.datetime) -> Any:
        return or_(ImportJob.status == "queued",
                   (ImportJob.status == "running") & (ImportJob.lease_until < now))

    with db.session(write=False, tenant=SYSTEM) as session:  # the common case: nothing to do,
        found = session.scalar(select(ImportJob.id).where(claimable(utcnow())).limit(1))
        if found is None:                                    # found without the write lock
            return None
    with db.transaction(tenant=SYSTEM) as session:
        now = utcnow()
        claimed = leases.claim(
            session, jobs_t, where=[claimable(now)], order_by=[ImportJob.created_at], limit=1,
            until=now + LEASE,
            values={"status": "running", "started_at": func.coalesce(jobs_t.c.started_at, now)})
        return str(claimed[0]) if claimed else None


def _batches(rows: Iterable[csvio.SourceRow], size: int) -> Iterator[list[csvio.SourceRow]]:
    """Batches of about ``size`` rows that never split a run of one product's rows."""
    batch: list[csvio.SourceRow] = []
    for row in rows:
        if len(batch) >= size and row.group != batch[-1].group:
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def run_job(db: Database, job_id: str,
            progress: Callable[[int, int], None] | None = None) -> None:
    """Apply a claimed job to the end, batch by batch; safe to run again after a crash."""
    with bulk_allocations():
        _run_job(db, job_id, progress)


def _run_job(db: Database, job_id: str, progress: Callable[[int, int], None] | None) -> None:
    with db.session(write=False, tenant=SYSTEM) as session:
        job = session.get(ImportJob, job_id)
        if job is None or job.status != "running":
            return
        content = session.scalar(select(ImportContent.content)
                                 .where(ImportContent.job_id == job_id)) or b""
        org, fmt, done = job.organization_id, job.format, job.rows_done
        dry_run, total = job.dry_run, job.rows_total
        location_id, adds = job.location_id, not job.adds_skipped
    needs_types = fmt in csvio.TCG_FORMATS
    if needs_types and not dry_run:
        # committed before any batch plans: a batch under way on another connection cannot
        # see what an uncommitted batch installed (its products' type would not exist yet)
        with db.transaction(tenant=org) as session:
            install_type_set(session, "tcg")
    importer = Importer(org, dry_run=dry_run, install_tcg=needs_types and dry_run,
                        stock=StockTarget(location_id, adds, f"import:{job_id}")
                        if location_id is not None else None)
    run = _BatchRun(db, job_id, importer)
    batches, analyze_at = 0, 1
    try:
        with contextlib.closing(run.apply(
                _batches(csvio.read_rows(content, fmt, skip=done), BATCH_ROWS), done)) as sizes:
            for size in sizes:
                done += size
                batches += 1
                if batches == analyze_at and not importer.dry_run:
                    refresh_statistics(db)
                    analyze_at *= 4
                if progress is not None:
                    progress(done, total)
    except Superseded:
        log.warning("import_superseded", job=job_id)
        return
    except Exception as exc:
        log.exception("import_failed", job=job_id)
        _finish(db, job_id, org, "failed", f"stopped at row {done + 1}: {exc}")
        return
    if not importer.dry_run:
        refresh_statistics(db)
    _finish(db, job_id, org, "succeeded", "dry run: nothing was written"
            if importer.dry_run else "")


IN_FLIGHT = 2
"""Batches a PostgreSQL job has under way at once. A batch is Python (reading, checking and
planning rows, rendering listings) and then waits while the database writes it; with one
batch at a time, the two took turns, each idle half the time."""
WAIT_SECONDS = 60.0
"""How long the job waits for its oldest batch before it rolls back the one behind it, in
case that one holds something the oldest needs (``_BatchRun``)."""


class _Abandoned(Exception):
    """This batch was rolled back: the job stopped, or the batch before it had not committed
    when this one planned and then rolled back or conflicted with it. The job applies it
    again, alone, once everything before it has committed (or not at all if it stopped)."""


class _Speculative(Exception):
    """A write of a batch planned before the batch ahead of it committed met a conflict."""


@dataclass
class _Turn:
    """One batch under way, as the batch after it and the job's thread see it."""

    start: int
    rows: list[csvio.SourceRow]
    keys: frozenset[str] = frozenset()
    planned: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    committed: bool = False
    go: threading.Event = field(default_factory=threading.Event)
    abandon: bool = False


class _BatchRun:
    """Applies a job's batches in file order, each in a transaction of its own that also
    advances the job's ``rows_done`` (compare-and-set).

    On PostgreSQL ``IN_FLIGHT`` batches are under way at once, on connections of their own:
    a batch plans once the one before it has planned (so planning, and which line first had a
    SKU, go in file order), writes, rebuilds its products' derived rows, and commits only when
    the job's thread says so, after the batch before it committed. A batch plans from what is
    committed, so if it has a key (SKU, barcode, slug, product: ``Planned.keys``) in common
    with the uncommitted batch before it, it waits for that one and plans again; with no key
    in common, neither reads what the other writes nor waits on a row the other holds. Should
    the oldest batch still not end within ``WAIT_SECONDS``, the batch behind it is rolled back
    and applied again on its own.

    That reasoning is backed by a rule that makes the result exactly what one batch at a
    time gives: a batch planned while the one before it was uncommitted (speculative) never
    fails a row because of a conflict; it rolls back and is applied again, alone, once all
    before it have committed. Only a batch planned from committed state blames a row, with
    the constraint that refused it (``conflict_cause``). What every batch needs from outside
    its rows (the TCGplayer card types) is committed before the first batch plans.

    SQLite writes in this process, one writer at a time: a second batch planning while the
    first writes only took turns with it for the interpreter (measured: no faster). A dry run
    writes in a savepoint it rolls back. Both go one batch at a time.
    """

    def __init__(self, db: Database, job_id: str, importer: Importer) -> None:
        self.db = db
        self.job_id = job_id
        self.importer = importer
        self.in_flight = IN_FLIGHT if db.dialect == "postgresql" and not importer.dry_run else 1

    def apply(self, batches: Iterable[list[csvio.SourceRow]], done: int
              ) -> Generator[int, None, None]:
        """Apply the batches from row ``done`` on; yields each batch's size once it has
        committed, in order, and lets the next one commit only when asked for the size after
        it. Closing the generator early rolls back the batches still under way."""
        under_way: deque[tuple[Future[None], _Turn]] = deque()
        with ThreadPoolExecutor(self.in_flight, thread_name_prefix="mercato-import") as pool:
            try:
                for rows in batches:
                    if len(under_way) == self.in_flight:
                        yield from self._commit_oldest(under_way, pool)
                    turn = _Turn(done, rows)
                    if not under_way:
                        turn.go.set()  # nothing before it is uncommitted
                    before = under_way[-1][1] if under_way else None
                    under_way.append((pool.submit(self._batch, turn, before), turn))
                    done += len(rows)
                while under_way:
                    yield from self._commit_oldest(under_way, pool)
            finally:
                for _, turn in under_way:  # stopped early: roll them back
                    turn.abandon = True
                    turn.go.set()

    def _commit_oldest(self, under_way: deque[tuple[Future[None], _Turn]],
                       pool: ThreadPoolExecutor) -> Generator[int, None, None]:
        """Yields the oldest batch's size once it has committed; when resumed (the caller is
        done with it), lets the next batch commit."""
        yield self._finish_oldest(under_way, pool)
        if under_way:
            under_way[0][1].go.set()

    def _finish_oldest(self, under_way: deque[tuple[Future[None], _Turn]],
                       pool: ThreadPoolExecutor) -> int:
        """Wait for the oldest batch to commit (raising what it raised) and take it off. A
        batch that gave up because of the uncommitted batch before it (``_Abandoned``) is
        applied again, alone: everything before it has committed by now."""
        while True:
            future, turn = under_way[0]
            try:
                try:
                    future.result(WAIT_SECONDS)
                except FutureTimeout:
                    if len(under_way) > 1:  # whatever the oldest waits for, the next lets go of
                        under_way[1][1].abandon = True
                        under_way[1][1].go.set()
                    future.result()
            except _Abandoned:
                again = _Turn(turn.start, turn.rows)
                again.go.set()
                under_way[0] = (pool.submit(self._batch, again, None), again)
                continue
            under_way.popleft()
            return len(turn.rows)

    def _batch(self, turn: _Turn, before: _Turn | None) -> None:
        importer = self.importer
        try:
            with self.db.transaction(tenant=importer.org) as session:
                if importer.dry_run:
                    result = importer.apply(session, turn.rows)
                else:
                    planned, speculative = self._plan(session, turn, before)
                    try:
                        result = importer.write(session, planned, speculative=speculative)
                    except _Speculative:
                        raise _Abandoned from None  # again once the batch before committed
                    reindex_pending(session)  # now, not at commit: commits go in turn
                turn.go.wait()
                if turn.abandon:
                    raise _Abandoned
                self._advance(session, turn, result)
            turn.committed = True
        finally:
            turn.planned.set()
            turn.ended.set()

    def _plan(self, session: Session, turn: _Turn, before: _Turn | None
              ) -> tuple[Planned, bool]:
        """The batch's plan, and whether it was made while the batch before it had not
        committed (speculative: a conflict it meets may be that batch's doing, not the
        file's, so it is applied again rather than failing rows)."""
        try:
            if before is not None:
                before.planned.wait()
            settled = before is None or (before.ended.is_set() and before.committed)
            planned = self.importer.plan(session, turn.rows)
            keys = planned.keys()
            if not settled and before is not None and keys & before.keys:
                before.ended.wait()  # it may write what this batch read: read again after it
                if not before.committed:
                    raise _Abandoned
                planned = self.importer.plan(session, turn.rows)
                keys = planned.keys()
                settled = True
            turn.keys = keys
            return planned, not settled
        finally:
            turn.planned.set()

    def _advance(self, session: Session, turn: _Turn, result: BatchResult) -> None:
        """The job's row: ``rows_done`` moves past this batch only from where it started (a
        runner whose lease lapsed finds it moved and stops), with the batch's counts."""
        advanced = session.execute(
            update(jobs_t).where(jobs_t.c.id == self.job_id,
                                 jobs_t.c.rows_done == turn.start, jobs_t.c.status == "running")
            .values(rows_done=turn.start + len(turn.rows), lease_until=utcnow() + LEASE,
                    created=jobs_t.c.created + result.created,
                    updated=jobs_t.c.updated + result.updated,
                    unchanged=jobs_t.c.unchanged + result.unchanged,
                    failed=jobs_t.c.failed + result.failed,
                    warnings=jobs_t.c.warnings + len(result.warnings),
                    products_created=jobs_t.c.products_created + result.products_created))
        if getattr(advanced, "rowcount", 0) != 1:
            raise Superseded
        notes = [(e, "error") for e in result.errors] + [(w, "warning")
                                                          for w in result.warnings]
        if notes:
            session.execute(insert(errors_t), [
                {"organization_id": self.importer.org, "job_id": self.job_id, "line": e.line,
                 "sku": e.sku, "field": e.field, "message": e.message[:2000],
                 "severity": severity}
                for e, severity in sorted(notes, key=lambda note: note[0].line)])


CATALOG_TABLES = ("products", "variants", "product_facets", "product_facet_sets",
                  "product_search", "product_listings")


def refresh_statistics(db: Database) -> None:
    """Let the planner see the catalog grow during a big import.

    A table that grew from nothing keeps plans made for an empty table: PostgreSQL's SKU
    lookup of each batch then scans every variant, SQLite reads a page's variants through the
    organization index (seconds, and over 100 ms, at 500k variants). Sampled statistics after
    batches 1, 4, 16, 64 … fix that for little.
    """
    try:
        db.analyze(CATALOG_TABLES)
    except Exception:  # statistics are an optimization, never a reason to fail an import
        log.warning("import_analyze_failed", exc_info=True)


def _finish(db: Database, job_id: str, org: str, status: str, message: str) -> None:
    """End the job. One that applied every row ``succeeded``; one that reached the end with
    rows it could not apply ``completed_with_errors``, saying how many."""
    with db.transaction(tenant=org) as session:
        job = session.get_one(ImportJob, job_id)
        if status == "succeeded" and job.failed:
            status = "completed_with_errors"
            skipped = (f"{job.failed} of {job.rows_done} rows "
                       f"{'would not be' if job.dry_run else 'were not'} imported; "
                       f"their errors say why (GET /api/v1/imports/{job_id}/errors)")
            message = f"{message}; {skipped}" if message else skipped
        notes = []
        if job.adds_skipped:
            notes.append("this file was imported at this location before: its Add to "
                         "Quantity was not applied again")
        if job.warnings:
            notes.append(f"{job.warnings} warning(s): rows kept values Mercato does not "
                         "know (see errors, severity warning)")
        message = "; ".join([m for m in (message, *notes) if m])
        session.execute(update(jobs_t).where(jobs_t.c.id == job_id).values(
            status=status, message=message[:2000], finished_at=utcnow(), lease_until=None))
        if not job.dry_run:
            record_audit(session, action="catalog.import", resource_type="import_job",
                         resource_id=job_id, organization_id=org, actor_id=job.created_by, after={
                             "status": status, "filename": job.filename, "rows": job.rows_done,
                             "created": job.created, "updated": job.updated,
                             "failed": job.failed})


# -- applying rows -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RowError:
    line: int
    sku: str | None
    field: str
    message: str


@dataclass
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    products_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    """Notes on rows that were imported (a value kept though Mercato does not know it)."""


@dataclass(frozen=True)
class StockTarget:
    """Where a job's TCGplayer quantities go, whether its Add to Quantity applies (not when
    the same file was imported there before), and the ledger's reference for its moves."""

    location_id: str
    adds: bool
    reference: str


@dataclass
class Plan:
    """One product's rows, validated and turned into the statements that write them."""

    rows: list[csvio.SourceRow]
    product_id: str
    product_insert: dict[str, Any] | None = None
    product_update: dict[str, Any] | None = None
    product_changes: dict[str, Any] = field(default_factory=dict)
    collections: list[str] | None = None
    variant_inserts: list[dict[str, Any]] = field(default_factory=list)
    variant_updates: list[dict[str, Any]] = field(default_factory=list)
    events: list[NewEvent] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    stock: list[tuple[csvio.SourceRow, str, int | None, int | None]] = field(
        default_factory=list)
    """(row, variant id, Total Quantity, Add to Quantity) of rows with quantities."""
    keys: set[str] = field(default_factory=set)
    """Values the plan frees or read besides its rows' own cells (``Planned.keys``)."""


@dataclass
class Planned:
    """A batch's plans, and the rows that failed before anything was written."""

    rows: list[csvio.SourceRow]
    plans: list[Plan]
    result: BatchResult

    def keys(self) -> frozenset[str]:
        """What the batch finds rows by and writes rows under: SKUs, barcodes, slugs (handles,
        the slugs new products get, and the slugs and barcodes that rows change away from) and
        products. A batch with none in common with another
        neither reads what that one writes nor writes a row that one writes or locks."""
        keys = {f"{name}:{row.cells[column]}" for row in self.rows
                for column, name in (("sku", "sku"), ("barcode", "barcode"), ("handle", "slug"))
                if row.cells.get(column)}
        for plan in self.plans:
            keys.add(f"product:{plan.product_id}")
            keys.update(plan.keys)
            if plan.product_insert is not None:
                keys.add(f"slug:{plan.product_insert['slug']}")
        return frozenset(keys)


class GroupFailed(Exception):
    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(errors[0].message if errors else "failed")
        self.errors = errors


def _field_errors(exc: ValidationError, columns: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(CSV column, message) for each pydantic error, its field renamed to the column."""
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else ""
        yield columns.get(name, name), err["msg"]


@dataclass
class Existing:
    """What a batch's rows refer to, read in a few queries before any row is planned."""

    variants_by_sku: dict[str, Any]
    products_by_id: dict[str, Any]
    products_by_slug: dict[str, Any]
    variants_of: dict[str, list[Any]]
    barcode_owner: dict[str, str]
    links: dict[str, set[str]]


MAX_QUANTITY = 1_000_000


def _quantities(row: csvio.SourceRow, fail: Callable[[csvio.SourceRow, str, str], None]
                ) -> tuple[int | None, int | None] | None:
    """A TCGplayer row's (Total Quantity, Add to Quantity) as numbers (None: empty), or None
    when it has neither; a cell that is not a whole number fails the row on its column."""
    if row.stock is None:
        return None
    values: list[int | None] = []
    for column, text, lowest in (("Total Quantity", row.stock[0], 0),
                                 ("Add to Quantity", row.stock[1], -MAX_QUANTITY)):
        text = text.strip()
        if not text:
            values.append(None)
            continue
        try:
            number = int(text)
        except ValueError:
            number = None
        if number is None or not lowest <= number <= MAX_QUANTITY:
            fail(row, column, f"{text!r} is not a whole number from {lowest} to "
                              f"{MAX_QUANTITY}")
            values.append(None)
        else:
            values.append(number)
    return values[0], values[1]


def _merge_attribute_cells(attributes: dict[str, Any], cells: dict[str, str],
                           names: Iterable[str], prefix: str, schema: dict[str, Any]
                           ) -> dict[str, Any]:
    """``attributes`` with each ``prefix`` column of the row applied: a value typed as the
    schema declares it, or, from an empty cell, the attribute removed."""
    for name in names:
        if name.startswith(prefix):
            key = name[len(prefix):]
            if cells[name]:
                attributes[key] = csvio.decode_attribute(cells[name],
                                                         csvio.declared_type(schema, key))
            else:
                attributes.pop(key, None)
    return attributes


CONFLICT_CAUSES = (
    ("barcode", "barcode", "the barcode was taken by another variant while this import ran"),
    ("sku", "sku", "the SKU was taken by another product while this import ran"),
    ("slug", "handle", "the handle was taken by another product while this import ran"),
    ("product_type", "product_type", "the product type was deleted while this import ran"),
    ("categor", "category", "the category was deleted while this import ran"),
    ("collection", "collections", "a collection was deleted while this import ran"),
    ("product_id", "handle", "the product was deleted while this import ran"),
)


def conflict_cause(exc: Exception) -> tuple[str, str]:
    """(column, message) for a write the database refused after the rows were checked: what
    another writer changed meanwhile, named from the refused constraint."""
    if isinstance(exc, _Stale):
        return "", ("the product or one of its variants was edited while this import ran; "
                    "import the file again to apply these rows")
    text = str(getattr(exc, "orig", exc))
    first = text.splitlines()[0] if text else ""
    lowered = first.lower()
    for needle, column, message in CONFLICT_CAUSES:
        if needle in lowered:
            return column, message
    if "foreign key" in lowered:
        return "", ("a product type, category or collection it names was deleted while this "
                    f"import ran ({first})")
    return "", f"the database refused the write: {first}"


class Importer:
    """Applies batches of rows for one organization, caching its types and categories."""

    def __init__(self, organization_id: str, *, dry_run: bool = False,
                 install_tcg: bool = False, stock: StockTarget | None = None) -> None:
        self.org = organization_id
        self.dry_run = dry_run
        self.install_tcg = install_tcg
        self.stock = stock
        self.seen_skus: dict[str, int] = {}
        self._types: dict[str, dict[str, Any]] | None = None
        self._categories: dict[str, str] | None = None
        self._collections: dict[str, str] | None = None
        self._checked: dict[tuple[Any, ...], list[tuple[str, str]]] = {}

    def _attribute_problems(self, product_type: dict[str, Any], kind: str,
                            attributes: dict[str, Any]) -> list[tuple[str, str]]:
        """(column, message) per schema violation, remembered per distinct attributes: a card
        store's variants repeat a few condition x finish x language combinations thousands of
        times, and JSON Schema validation was a third of an import's time."""
        try:  # the type is part of the key: 1, 1.0 and True are equal, and valid differently
            key: tuple[Any, ...] = (product_type["id"], kind,
                                    *((k, type(v), v) for k, v in sorted(attributes.items())))
            hash(key)
        except TypeError:  # lists or objects among the values
            key = (product_type["id"], kind, json.dumps(attributes, sort_keys=True, default=str))
        found = self._checked.get(key)
        if found is None:
            if len(self._checked) >= 4096:
                self._checked.clear()
            prefix = csvio.PRODUCT_ATTR if kind == "attributes" else csvio.VARIANT_ATTR
            found = self._checked[key] = [
                (prefix + error["field"].removeprefix("attributes."), error["message"])
                for error in attribute_errors(product_type["validators"][kind], attributes,
                                              "attributes")]
        return found

    # lookups, loaded once per job
    def _load(self, session: Session) -> None:
        if self._types is None:
            if self.install_tcg:  # TCGplayer files need the card types; install them once
                install_type_set(session, "tcg")
            self._types = {}
            for t in session.scalars(select(ProductType)):
                spec = {"id": t.id, "slug": t.slug, "serialized": t.serialized,
                        "attributes": t.attributes_schema,
                        "variant_attributes": t.variant_attributes_schema,
                        "validators": {
                            "attributes": validator_for(t.attributes_schema),
                            "variant_attributes": validator_for(t.variant_attributes_schema)}}
                self._types[t.id] = self._types[t.slug] = spec
            self._categories = {}
            for c_id, slug in session.execute(select(Category.id, Category.slug)):
                self._categories[c_id] = self._categories[slug] = c_id
            self._collections = {}
            for c_id, slug in session.execute(select(Collection.id, Collection.slug)):
                self._collections[c_id] = self._collections[slug] = c_id

    def apply(self, session: Session, rows: list[csvio.SourceRow]) -> BatchResult:
        """Plan and write a batch in ``session`` (in a savepoint rolled back on a dry run)."""
        savepoint = session.begin_nested() if self.dry_run else None
        if savepoint is not None:
            self._types = None  # what the last dry batch installed was rolled back
        result = self.write(session, self.plan(session, rows))
        if savepoint is not None:
            savepoint.rollback()
        return result

    def plan(self, session: Session, rows: list[csvio.SourceRow]) -> Planned:
        """Read what the rows refer to and plan each product; nothing is written. Planning
        the same rows again (after an earlier batch committed) gives the plan they would have
        had then: a SKU counts as repeated only at a line other than the one that first had
        it."""
        self._load(session)
        result = BatchResult()
        groups: dict[str, list[csvio.SourceRow]] = defaultdict(list)
        for row in rows:
            groups[row.group].append(row)
        existing = self._existing(session, rows)
        plans: list[Plan] = []
        for group in groups.values():
            try:
                plans.append(self._plan(group, existing))
            except GroupFailed as failed:
                self._fail(result, group, failed.errors)
        return Planned(rows, plans, result)

    def write(self, session: Session, planned: Planned, *,
              speculative: bool = False) -> BatchResult:
        """Write a planned batch. ``speculative``: it was planned while an earlier batch had
        not committed, so a conflict raises ``_Speculative`` instead of failing rows."""
        result = planned.result
        written = self._write_all(session, planned.plans, result, speculative)
        refused = self._apply_stock(session, written)
        for plan in written:
            for row, outcome in zip(plan.rows, plan.outcomes, strict=True):
                if row.line in refused:
                    column, message = refused[row.line]
                    result.errors.append(RowError(row.line, row.cells.get("sku") or None,
                                                  column, message))
                    result.failed += 1
                else:
                    setattr(result, outcome, getattr(result, outcome) + 1)
                result.warnings += [RowError(row.line, row.cells.get("sku") or None, column,
                                             message) for column, message in row.warnings]
            result.products_created += plan.product_insert is not None
        return result

    def _apply_stock(self, session: Session, plans: list[Plan]) -> dict[int, tuple[str, str]]:
        """The written rows' quantities, at the job's location through inventory (its ledger,
        its guards): (column, message) by line of each row inventory refused. The catalog
        part of such a row stays written; its stock is untouched, so importing the file
        again tries it again."""
        if self.stock is None:
            return {}
        lines = [ports.StockLine(row.line, variant_id, row.cells.get("sku", ""), total, add)
                 for plan in plans for row, variant_id, total, add in plan.stock
                 if total is not None or add]
        if not lines:
            return {}
        refused = ports.apply_imported_stock(session, self.stock.location_id,
                                             self.stock.reference, lines, self.stock.adds)
        return {line: ("Total Quantity", message) for line, message in refused.items()}

    def _fail(self, result: BatchResult, group: list[csvio.SourceRow],
              errors: list[RowError]) -> None:
        failing = {e.line for e in errors}
        result.errors += errors
        first = min(failing) if failing else group[0].line
        for row in group:
            if row.line not in failing:
                result.errors.append(RowError(
                    row.line, row.cells.get("sku") or None, "",
                    f"not imported: line {first} of the same product failed"))
        result.failed += len(group)

    # reading what is there
    def _existing(self, session: Session, rows: list[csvio.SourceRow]) -> Existing:
        org = self.org
        skus = sorted({r.cells.get("sku", "") for r in rows} - {""})
        handles = sorted({r.cells.get("handle", "") for r in rows} - {""})
        barcodes = sorted({r.cells.get("barcode", "") for r in rows} - {""})
        by_sku = {v.sku: v for v in session.execute(
            select(variants_t).where(variants_t.c.organization_id == org,
                                     among(session, variants_t.c.sku, skus)))}
        product_ids = {v.product_id for v in by_sku.values()}
        products = list(session.execute(select(products_t).where(
            products_t.c.organization_id == org,
            or_(among(session, products_t.c.id, product_ids),
                among(session, products_t.c.slug, handles)))))
        ids = [p.id for p in products]
        variants_of: dict[str, list[Any]] = defaultdict(list)
        for v in session.execute(select(variants_t).where(among(session, variants_t.c.product_id,
                                                                ids))
                                 .order_by(variants_t.c.position)):
            variants_of[v.product_id].append(v)
        links: dict[str, set[str]] = defaultdict(set)
        for pid, cid in session.execute(select(links_t.c.product_id, links_t.c.collection_id)
                                        .where(among(session, links_t.c.product_id, ids))):
            links[pid].add(cid)
        owners = dict(session.execute(select(variants_t.c.barcode, variants_t.c.sku).where(
            variants_t.c.organization_id == org,
            among(session, variants_t.c.barcode, barcodes))).all())
        return Existing(by_sku, {p.id: p for p in products}, {p.slug: p for p in products},
                             variants_of, owners, links)

    # validating and planning one product
    def _plan(self, rows: list[csvio.SourceRow], have: Existing) -> Plan:
        assert self._types is not None
        errors: list[RowError] = []

        def fail(row: csvio.SourceRow, column: str, message: str) -> None:
            errors.append(RowError(row.line, row.cells.get("sku") or None, column, message))

        first = rows[0]
        cells = first.cells
        owners = {have.variants_by_sku[r.cells["sku"]].product_id for r in rows
                  if r.cells.get("sku") in have.variants_by_sku}
        if len(owners) > 1:
            for row in rows:
                fail(row, "handle", "these SKUs belong to different products")
            raise GroupFailed(errors)
        handle = cells.get("handle") or None
        product = (have.products_by_id[owners.pop()] if owners
                   else have.products_by_slug.get(handle) if handle else None)
        creating = product is None

        # the product
        type_ref = cells.get("product_type") or (product.product_type_id if product else "")
        product_type = self._types.get(type_ref)
        if product_type is None:
            fail(first, "product_type", f"no product type {type_ref!r}" if type_ref
                 else "required for a new product")
            raise GroupFailed(errors)
        if product is not None and product_type["id"] != product.product_type_id:
            fail(first, "product_type", "a product's type cannot change")
        raw: dict[str, Any] = {}
        present = {c for c in cells if not (c in first.create_only and not creating)}
        if "title" in present and cells["title"]:
            raw["title"] = cells["title"]
        elif creating:
            fail(first, "title", "required for a new product")
        if handle and (product is None or handle != product.slug):
            raw["slug"] = handle
        for name in ("description", "status", "vendor", "category"):
            if name in present and (cells[name] or name in ("vendor", "category",
                                                            "description")):
                raw[name] = cells[name] or (None if name in ("vendor", "category") else "")
        for name in ("tags", "collections"):
            if name in present:
                raw[name] = csvio.split_list(cells[name])
        if "media" in present:
            try:
                raw["media"] = json.loads(cells["media"]) if cells["media"] else []
            except ValueError:
                fail(first, "media", "not a JSON list of {url, alt, position}")
        attributes = _merge_attribute_cells(dict(product.attributes) if product else {}, cells,
                                            present, csvio.PRODUCT_ATTR,
                                            product_type["attributes"])
        raw["attributes"] = attributes
        try:
            checked = ProductUpdate.model_validate(raw)
        except ValidationError as exc:
            for column, message in _field_errors(exc, COLUMN_OF):
                fail(first, column, message)
            raise GroupFailed(errors) from None
        for column, message in self._attribute_problems(product_type, "attributes",
                                                        attributes):
            fail(first, column, message)
        values: dict[str, Any] = {}
        for name in checked.model_fields_set:
            value = getattr(checked, name)
            if name == "category":
                if value is None:
                    values["category_id"] = None
                elif value in (self._categories or {}):
                    values["category_id"] = (self._categories or {})[value]
                else:
                    fail(first, "category", f"no category {value!r}")
            elif name == "collections":
                unknown = [c for c in value if c not in (self._collections or {})]
                if unknown:
                    fail(first, "collections", f"no collection {unknown[0]!r}")
            elif name == "tags":
                values["tags"] = sorted(set(value))
            elif name == "media":
                values["media"] = [m.model_dump() for m in
                                   sorted(value, key=lambda m: m.position)]
            else:
                values[name] = value
        product_id = product.id if product else new_id()
        plan = Plan(rows=rows, product_id=product_id)
        if product is not None:
            plan.keys.add(f"slug:{product.slug}")
        if checked.collections is not None and "collections" in checked.model_fields_set:
            wanted = sorted({(self._collections or {})[c] for c in checked.collections
                             if c in (self._collections or {})})
            if sorted(have.links.get(product_id, set())) != wanted:
                plan.collections = wanted

        # the variants
        count = len(have.variants_of.get(product_id, []))
        positions = count
        barcodes: dict[str, int] = {}
        for row in rows:
            sku = row.cells.get("sku", "")
            if not sku:
                fail(row, "sku", "required")
                continue
            first_seen = self.seen_skus.setdefault(sku, row.line)  # planning again: own line
            if first_seen != row.line:
                fail(row, "sku", f"SKU repeated; first at line {first_seen}")
                continue
            current = have.variants_by_sku.get(sku)
            if current is not None and current.barcode:
                plan.keys.add(f"barcode:{current.barcode}")
            merged: dict[str, Any] = {name: getattr(current, name) for name in VARIANT_FIELDS} \
                if current is not None else {"sku": sku}
            for column in csvio.VARIANT_COLUMNS:
                if column not in row.cells or column == "sku":
                    continue
                target = "title" if column == "variant_title" else column
                text = row.cells[column]
                merged[target] = text or (
                    "" if target == "title" else "USD" if target == "currency" else None)
            variant_attributes = _merge_attribute_cells(
                dict(current.attributes) if current is not None else {}, row.cells, row.cells,
                csvio.VARIANT_ATTR, product_type["variant_attributes"])
            merged["attributes"] = variant_attributes
            try:
                variant = VariantIn.model_validate(merged)
            except ValidationError as exc:
                for column, message in _field_errors(exc, VARIANT_COLUMN_OF):
                    fail(row, column, message)
                continue
            for column, message in self._attribute_problems(product_type, "variant_attributes",
                                                            variant_attributes):
                fail(row, column, message)
            if variant.barcode:
                owner = have.barcode_owner.get(variant.barcode)
                if (owner is not None and owner != sku) or variant.barcode in barcodes:
                    fail(row, "barcode", f"barcode {variant.barcode!r} is already used")
                barcodes[variant.barcode] = row.line
            new_values = {name: getattr(variant, name) for name in VARIANT_FIELDS}
            quantities = _quantities(row, fail)
            if current is None:
                count += 1
                plan.variant_inserts.append({
                    "id": new_id(), "organization_id": self.org, "product_id": product_id,
                    **new_values, "position": positions, "available": 0})
                positions += 1
                plan.outcomes.append("created")
                if quantities is not None:
                    plan.stock.append((row, plan.variant_inserts[-1]["id"], *quantities))
            elif current.product_id != product_id:
                fail(row, "sku", "this SKU belongs to another product")
            else:
                if quantities is not None:
                    plan.stock.append((row, current.id, *quantities))
                changes = {name: {"from": json_value(getattr(current, name)),
                                  "to": json_value(value)}
                           for name, value in new_values.items()
                           if getattr(current, name) != value}
                if changes:
                    plan.variant_updates.append({"b_id": current.id,
                                                 "b_version": current.version, **new_values})
                    plan.events.append(NewEvent("variant.updated", "variant", current.id, {
                        "variant_id": current.id, "sku": sku, "changes": changes}))
                    plan.outcomes.append("updated")
                else:
                    plan.outcomes.append("unchanged")
        if product_type["serialized"] and count > 1:
            fail(first, "sku", "a one-of-a-kind product has exactly one variant")
        if errors:
            raise GroupFailed(errors)

        now = utcnow()
        if product is None:
            title = values["title"]
            prices = [Decimal(v["price"]) for v in plan.variant_inserts]
            plan.product_insert = {
                "id": product_id, "organization_id": self.org,
                "product_type_id": product_type["id"], "title": title,
                "slug": values.get("slug") or f"{slugify(title)}-{new_id()[-6:].lower()}",
                "description": values.get("description") or "",
                "status": values.get("status") or "draft", "vendor": values.get("vendor"),
                "category_id": values.get("category_id"), "tags": values.get("tags", []),
                "media": values.get("media", []), "attributes": attributes,
                "created_at": now, "updated_at": now, "version": 1,
                # what the reindex before commit derives: with it in place, the reindex has
                # no UPDATE of every new product to make
                "min_price": min(prices, default=None), "max_price": max(prices, default=None)}
            plan.events.append(NewEvent("product.created", "product", product_id, {
                "product_id": product_id, "title": title, "product_type": product_type["slug"],
                "status": plan.product_insert["status"],
                "variants": [v["id"] for v in plan.variant_inserts]}))
        else:
            changes = {name: {"from": getattr(product, name), "to": value}
                       for name, value in values.items() if getattr(product, name) != value}
            if plan.collections is not None:
                before = sorted(have.links.get(product_id, set()))
                changes["collections"] = {"from": before, "to": plan.collections}
            if changes:
                plan.product_update = {
                    "b_id": product_id, "b_version": product.version,
                    **{name: values.get(name, getattr(product, name))
                       for name in PRODUCT_FIELDS}}
                plan.product_changes = changes
                plan.events.append(NewEvent("product.updated", "product", product_id, {
                    "product_id": product_id, "changes": changes}))
        for inserted in plan.variant_inserts:
            plan.events.append(NewEvent("variant.created", "variant", inserted["id"], {
                "id": inserted["id"], "product_id": product_id, "sku": inserted["sku"],
                "barcode": inserted["barcode"], "price": json_value(inserted["price"]),
                "currency": inserted["currency"], "attributes": inserted["attributes"]}))
        return plan

    # writing
    def _write_all(self, session: Session, plans: list[Plan], result: BatchResult,
                   speculative: bool = False) -> list[Plan]:
        """All plans in one go; if the database refuses (a barcode taken meanwhile, a row
        edited meanwhile), each product again on its own, so one failure stays one failure."""
        try:
            with session.begin_nested():
                self._write(session, plans)
            return plans
        except (IntegrityError, _Stale) as exc:
            if speculative:
                raise _Speculative from None
            if len(plans) == 1:
                column, cause = conflict_cause(exc)
                self._fail(result, plans[0].rows, [RowError(
                    plans[0].rows[0].line, plans[0].rows[0].cells.get("sku") or None, column,
                    f"{cause}; nothing of this product was imported")])
                return []
        written = []
        for plan in plans:
            written += self._write_all(session, [plan], result)
        return written

    def _write(self, session: Session, plans: list[Plan]) -> None:
        now = utcnow()
        product_inserts = [p.product_insert for p in plans if p.product_insert]
        if product_inserts:
            insert_many(session, products_t, product_inserts)
        variant_inserts = [{**v, "created_at": now, "updated_at": now, "version": 1}
                           for p in plans for v in p.variant_inserts]
        if variant_inserts:
            insert_many(session, variants_t, variant_inserts)
        product_updates = [p.product_update for p in plans if p.product_update]
        if product_updates:
            done = session.execute(
                update(products_t).where(products_t.c.id == bindparam("b_id"),
                                         products_t.c.version == bindparam("b_version"))
                .values(version=products_t.c.version + 1, updated_at=now), product_updates)
            if getattr(done, "rowcount", -1) != len(product_updates):
                raise _Stale
        variant_updates = [v for p in plans for v in p.variant_updates]
        if variant_updates:
            done = session.execute(
                update(variants_t).where(variants_t.c.id == bindparam("b_id"),
                                         variants_t.c.version == bindparam("b_version"))
                .values(version=variants_t.c.version + 1, updated_at=now), variant_updates)
            if getattr(done, "rowcount", -1) != len(variant_updates):
                raise _Stale
        relinked = [p for p in plans if p.collections is not None]
        if relinked:
            session.execute(delete(links_t).where(
                links_t.c.product_id.in_([p.product_id for p in relinked])))
            links = [{"organization_id": self.org, "product_id": p.product_id,
                      "collection_id": c} for p in relinked for c in p.collections or []]
            if links:
                insert_many(session, links_t, links)
        if not self.dry_run:
            record_events(session, self.org, [e for p in plans for e in p.events])
            touch(session, [p.product_id for p in plans])


# -- export ------------------------------------------------------------------------------------

EXPORT_BATCH = 500


def _attribute_names(session: Session, column: Any, products: Any) -> list[str]:
    """Every attribute name the exported products (or their variants) use: the columns."""
    owner = column.table.c.id if column.table is products_t else column.table.c.product_id
    if session.get_bind().dialect.name == "postgresql":
        keys = select(func.jsonb_object_keys(column).label("key")).where(owner.in_(products))
    else:
        each = func.json_each(column).table_valued("key")  # a join on the row's own JSON
        keys = select(each.c.key).select_from(column.table.join(each, true())).where(
            owner.in_(products))
    return sorted({str(k) for k in session.scalars(keys.distinct())})


def export_channel(session: Session, fmt: str, channel: str | None) -> str | None:
    """The sales channel an export's quantities and prices are for: ``format=tcgplayer``'s
    (the one named, else the first of kind ``tcgplayer``; 422 on ``channel`` otherwise);
    None for the other formats, which take no channel (422 when one is named)."""
    if fmt == "tcgplayer":
        return ports.sales_channel(session, channel, "tcgplayer")
    if channel:
        raise ValidationFailed("Only format=tcgplayer writes a channel's numbers.", errors=[
            {"field": "channel", "message": f"format={fmt} takes no channel"}])
    return None


def export_rows(session: Session, conditions: list[Any], fmt: str = "mercato", *,
                channel_id: str | None = None) -> Iterator[str]:
    """The catalog (or the products ``conditions`` select: ``service.filter_conditions``) as
    CSV text, a chunk at a time, in the layout import reads: export then import changes
    nothing. ``fmt`` is one of ``csvio.EXPORT_FORMATS``; ``tcgplayer`` needs the sales
    channel (``export_channel``) whose available-to-sell and price it writes."""
    if fmt == "binderpos":
        yield from _binderpos_rows(session, conditions)
        return
    if fmt == "tcgplayer":
        if channel_id is None:
            raise ValueError("a TCGplayer export is for a sales channel")
        yield from _tcgplayer_rows(session, conditions, channel_id)
        return
    if fmt != "mercato":
        raise ValueError(f"no export format {fmt!r}")
    org = session.info["tenant"]
    conditions = [products_t.c.organization_id == org, *conditions]
    selected = select(products_t.c.id).where(*conditions)
    product_attrs = _attribute_names(session, products_t.c.attributes, selected)
    variant_attrs = _attribute_names(session, variants_t.c.attributes, selected)
    header = [*csvio.PRODUCT_COLUMNS, *csvio.VARIANT_COLUMNS,
              *(csvio.PRODUCT_ATTR + a for a in product_attrs),
              *(csvio.VARIANT_ATTR + a for a in variant_attrs)]
    types = {t.id: t for t in session.scalars(select(ProductType))}
    categories = dict(session.execute(select(Category.id, Category.slug)).all())
    collections = dict(session.execute(select(Collection.id, Collection.slug)).all())
    buffer = io.StringIO()
    writer = csvcells.Writer(buffer, lineterminator="\n")
    writer.writerow(header)
    last = ""
    while True:
        products = session.execute(
            select(products_t).where(*conditions, products_t.c.id > last)
            .order_by(products_t.c.id).limit(EXPORT_BATCH)).all()
        if not products:
            break
        last = products[-1].id
        ids = [p.id for p in products]
        variants: dict[str, list[Any]] = defaultdict(list)
        for v in session.execute(select(variants_t).where(variants_t.c.product_id.in_(ids))
                                 .order_by(variants_t.c.product_id, variants_t.c.position,
                                           variants_t.c.id)):
            variants[v.product_id].append(v)
        links: dict[str, list[str]] = defaultdict(list)
        for pid, cid in session.execute(select(links_t.c.product_id, links_t.c.collection_id)
                                        .where(links_t.c.product_id.in_(ids))):
            links[pid].append(collections[cid])
        for p in products:
            product_type = types[p.product_type_id]
            own = [p.slug, p.title, product_type.slug, p.status, p.vendor or "",
                   categories.get(p.category_id, "") if p.category_id else "",
                   csvio.join_list(sorted(links[p.id])), csvio.join_list(p.tags),
                   p.description, json.dumps(p.media, ensure_ascii=False) if p.media else "",]
            attrs = [csvio.encode_attribute(p.attributes[a], csvio.declared_type(
                product_type.attributes_schema, a)) if a in p.attributes else ""
                for a in product_attrs]
            for v in variants[p.id]:
                writer.writerow([
                    *own, v.sku, v.barcode or "", v.title, json_value(v.price),
                    json_value(v.compare_at_price) or "", json_value(v.cost) or "", v.currency,
                    "" if v.weight_grams is None else v.weight_grams, *attrs,
                    *(csvio.encode_attribute(v.attributes[a], csvio.declared_type(
                        product_type.variant_attributes_schema, a))
                      if a in v.attributes else "" for a in variant_attrs)])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()



BINDERPOS_TYPES = ("tcg-single", "tcg-sealed")
"""What a BinderPOS file can describe: graded cards (one of a kind) and other types are left
out, since importing them back would turn them into singles or sealed products."""


def _binderpos_rows(session: Session, conditions: list[Any]) -> Iterator[str]:
    """The selected card products in BinderPOS's layout (``csvio.BINDERPOS_COLUMNS``), one row
    per variant, products in id order and variants in position order."""
    org = session.info["tenant"]
    type_ids = list(session.scalars(select(ProductType.id).where(
        ProductType.slug.in_(BINDERPOS_TYPES))))
    conditions = [products_t.c.organization_id == org,
                  products_t.c.product_type_id.in_(type_ids), *conditions]
    buffer = io.StringIO()
    writer = csvcells.Writer(buffer, lineterminator="\n")
    writer.writerow(csvio.BINDERPOS_COLUMNS)
    last = ""
    while True:
        products = session.execute(
            select(products_t.c.id, products_t.c.title, products_t.c.attributes)
            .where(*conditions, products_t.c.id > last)
            .order_by(products_t.c.id).limit(EXPORT_BATCH)).all()
        if not products:
            break
        last = products[-1].id
        variants: dict[str, list[Any]] = defaultdict(list)
        for v in session.execute(
                select(variants_t.c.product_id, variants_t.c.sku, variants_t.c.title,
                       variants_t.c.attributes, variants_t.c.price, variants_t.c.barcode)
                .where(variants_t.c.product_id.in_([p.id for p in products]))
                .order_by(variants_t.c.product_id, variants_t.c.position, variants_t.c.id)):
            variants[v.product_id].append(v)
        for p in products:
            for v in variants[p.id]:
                writer.writerow(csvio.to_binderpos(
                    title=p.title, attributes=p.attributes, sku=v.sku, variant_title=v.title,
                    variant_attributes=v.attributes, price=json_value(v.price),
                    barcode=v.barcode or ""))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()


TCGPLAYER_TYPES = ("tcg-single", "tcg-sealed")
"""What TCGplayer's inventory file lists: singles and sealed product (graded cards are not
sold through it)."""


def _tcgplayer_rows(session: Session, conditions: list[Any], channel_id: str
                    ) -> Iterator[str]:
    """The selected card variants with a TCGplayer Id (``csvio.tcgplayer_id``) in TCGplayer's
    inventory layout (``csvio.TCGPLAYER_COLUMNS``): Total Quantity is the channel's
    available-to-sell, TCG Marketplace Price the channel's price (``catalog.ports``). A
    variant TCGplayer cannot match (no id) is left out."""
    org = session.info["tenant"]
    types = dict(session.execute(select(ProductType.id, ProductType.slug).where(
        ProductType.slug.in_(TCGPLAYER_TYPES))).all())
    conditions = [products_t.c.organization_id == org,
                  products_t.c.product_type_id.in_(list(types)), *conditions]
    buffer = io.StringIO()
    writer = csvcells.Writer(buffer, lineterminator="\n")
    writer.writerow(csvio.TCGPLAYER_COLUMNS)
    last = ""
    while True:
        products = session.execute(
            select(products_t.c.id, products_t.c.title, products_t.c.attributes,
                   products_t.c.media, products_t.c.product_type_id)
            .where(*conditions, products_t.c.id > last)
            .order_by(products_t.c.id).limit(EXPORT_BATCH)).all()
        if not products:
            break
        last = products[-1].id
        variants: dict[str, list[Any]] = defaultdict(list)
        for v in session.execute(
                select(variants_t.c.id, variants_t.c.product_id, variants_t.c.sku,
                       variants_t.c.attributes, variants_t.c.price, variants_t.c.currency)
                .where(variants_t.c.product_id.in_([p.id for p in products]),
                       variants_t.c.archived_at.is_(None))
                .order_by(variants_t.c.product_id, variants_t.c.position, variants_t.c.id)):
            if csvio.tcgplayer_id(v.sku, v.attributes):
                variants[v.product_id].append(v)
        listed = [v for vs in variants.values() for v in vs]
        units = ports.channel_units(session, channel_id, [v.id for v in listed])
        prices = ports.channel_prices(session, channel_id, [
            ports.PricedVariant(v.id, v.price, v.currency) for v in listed])
        for p in products:
            media = sorted(p.media or [], key=lambda m: m.get("position", 0))
            for v in variants[p.id]:
                price = prices.get(v.id)
                writer.writerow(csvio.to_tcgplayer(
                    tcgplayer_id=csvio.tcgplayer_id(v.sku, v.attributes), title=p.title,
                    attributes=p.attributes, variant_attributes=v.attributes,
                    sealed=types[p.product_type_id] == "tcg-sealed",
                    quantity=units.get(v.id, 0),
                    price=json_value(price) if price is not None else "",
                    photo_url=str(media[0].get("url", "")) if media else ""))
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()
