"""The admin's CSV import pages: upload a file, watch it run, read its row errors.

An upload becomes the same background job as ``POST /api/v1/imports`` (the worker's
``catalog.run_imports`` applies it: in-process under ``mercato demo`` and ``serve
--with-worker``). The job's page polls its own ``job`` block with htmx once a second until the
job ends, then shows the row errors and a download of the failed rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from mercato import catalog
from mercato.catalog.schemas import ImportJobOut, ImportRowErrorOut
from mercato.core.errors import ValidationFailed
from mercato.core.pagination import DEFAULT_LIMIT, PageParams
from mercato.core.uow import DbSession, MercatoRoute, uow_of
from mercato.inventory import service as inventory_service
from mercato.web.session import StaffSession, staff_page
from mercato.web.templating import form_errors, redirect, render

router = APIRouter(route_class=MercatoRoute, include_in_schema=False)
WRITE, READ = "catalog:write", "catalog:read"  # as POST and GET /api/v1/imports
LAYOUTS = (("auto", "Detect from the header"), ("mercato", "Mercato"),
           ("tcgplayer", "TCGplayer"), ("binderpos", "BinderPOS"))
DONE = frozenset({"succeeded", "completed_with_errors", "failed"})
STATUS_TONES = {"queued": "neutral", "running": "warn", "succeeded": "good",
                "completed_with_errors": "warn", "failed": "bad"}


def percent(job: ImportJobOut) -> int:
    """How far the job is, 0-100: 100 once it has read the file to the end."""
    if job.status in ("succeeded", "completed_with_errors"):
        return 100
    if job.rows_total <= 0:
        return 0
    return min(99 if job.status not in DONE else 100, job.rows_done * 100 // job.rows_total)


def _job(session: Any, job_id: str) -> ImportJobOut:
    return ImportJobOut.model_validate(catalog.get_import_job(session, job_id))


# -- the list ----------------------------------------------------------------------------------

@router.get("/admin/imports", response_class=HTMLResponse)
def imports_index(request: Request, session: DbSession,
                  cursor: Annotated[str | None, Query(max_length=4000)] = None,
                  staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    page = catalog.list_import_jobs(session, PageParams(limit=DEFAULT_LIMIT, cursor=cursor))
    jobs = [ImportJobOut.model_validate(job) for job in page.items]
    return render(request, "admin/imports/index.html", {
        "jobs": [(job, percent(job)) for job in jobs], "tones": STATUS_TONES,
        "next_url": f"/admin/imports?cursor={page.next_cursor}" if page.next_cursor else None,
        "first_url": "/admin/imports" if cursor else None}, block="rows")


# -- a new import ------------------------------------------------------------------------------

def _locations(session: Any) -> list[tuple[str, str]]:
    """Where a TCGplayer file's quantities may go (the first 250 locations)."""
    page = inventory_service.list_locations(session, PageParams(limit=250, cursor=None))
    return [(loc.id, f"{loc.name} ({loc.code})") for loc in page.items]


def _new_page(request: Request, session: Any, *, values: dict[str, Any] | None = None,
              errors: list[dict[str, str]] | None = None, status: int = 200) -> HTMLResponse:
    by_field, listed = form_errors(errors or [])
    return render(request, "admin/imports/new.html", {
        "layouts": LAYOUTS, "values": values or {"format": "auto", "dry_run": False},
        "locations": _locations(session), "errors": by_field, "error_list": listed},
        status=status)


@router.get("/admin/imports/new", response_class=HTMLResponse)
def new_import(request: Request, session: DbSession,
               staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    return _new_page(request, session)


@router.post("/admin/imports", response_class=HTMLResponse)
def create_import(request: Request, session: DbSession,
                  file: Annotated[UploadFile | None, File()] = None,
                  format: Annotated[str, Form(max_length=20)] = "auto",
                  dry_run: Annotated[str, Form(max_length=10)] = "",
                  location: Annotated[str, Form(max_length=50)] = "",
                  staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    values = {"format": format, "dry_run": bool(dry_run), "location": location}
    if format not in {code for code, _ in LAYOUTS}:
        return _new_page(request, session, values=values, status=422, errors=[
            {"field": "format", "message": "Choose one of the layouts listed."}])
    settings = request.app.state.settings
    # as the API: the file is read and checked before the write transaction begins (SQLite's
    # one write lock is not held while a large file is read); the session lookup is ended
    uow_of(request).release()
    content = file.file.read(settings.max_upload_bytes + 1) if file is not None else b""
    if file is None or (not file.filename and not content):
        return _new_page(request, session, values=values, status=422, errors=[
            {"field": "file", "message": "Choose a CSV file to import."}])
    if len(content) > settings.max_upload_bytes:
        return _new_page(request, session, values=values, status=422, errors=[
            {"field": "file", "message": f"The file is larger than {settings.max_upload_bytes} "
                                         "bytes; split it."}])
    limits = catalog.CsvLimits(max_columns=settings.csv_max_columns,
                               max_row_chars=settings.csv_max_row_chars)
    try:
        checked = catalog.check_import_file(content, None if format == "auto" else format,
                                            limits)
    except catalog.CsvFormatError as exc:
        return _new_page(request, session, values=values, status=422,
                         errors=[{"field": "file", "message": str(exc)}])
    try:
        job = catalog.create_import_job(session, checked=checked, filename=file.filename or "",
                                        dry_run=bool(dry_run), created_by=staff.principal.id,
                                        location=location or None)
    except ValidationFailed as exc:
        return _new_page(request, session, values=values, status=422, errors=exc.errors)
    what = "Dry run" if dry_run else "Import"
    return redirect(f"/admin/imports/{job.id}",
                    flash=f"{what} of {checked.rows} rows queued: it starts in a moment.")


# -- one import --------------------------------------------------------------------------------

@router.get("/admin/imports/{import_id}", response_class=HTMLResponse)
def import_page(request: Request, import_id: str, session: DbSession,
                cursor: Annotated[str | None, Query(max_length=4000)] = None,
                staff: StaffSession = Depends(staff_page(READ))) -> Response:
    job = _job(session, import_id)
    done = job.status in DONE
    errors = catalog.import_error_page(session, import_id,
                                       PageParams(limit=DEFAULT_LIMIT, cursor=cursor))
    base = f"/admin/imports/{import_id}"
    return render(request, "admin/imports/job.html", {
        "job": job, "percent": percent(job), "done": done, "tones": STATUS_TONES,
        "row_errors": [ImportRowErrorOut.model_validate(e) for e in errors.items],
        "next_url": f"{base}?cursor={errors.next_cursor}" if errors.next_cursor else None,
        "first_url": base if cursor else None, "base": base,
        "can_import": staff.can(WRITE)}, block="job")


@router.post("/admin/imports/{import_id}/apply", response_class=HTMLResponse)
def apply_dry_run(request: Request, import_id: str, session: DbSession,
                  staff: StaffSession = Depends(staff_page(WRITE))) -> Response:
    job = catalog.apply_import_dry_run(session, import_id, created_by=staff.principal.id)
    return redirect(f"/admin/imports/{job.id}",
                    flash=f"Import of {job.rows_total} rows queued: it starts in a moment.")


@router.get("/admin/imports/{import_id}/failed-rows.csv", response_class=StreamingResponse)
def failed_rows(request: Request, import_id: str, session: DbSession,
                staff: StaffSession = Depends(staff_page(READ))) -> Response:
    job = _job(session, import_id)
    chunks = list(catalog.import_failed_rows(session, import_id))  # read in this transaction

    def body() -> Iterator[bytes]:
        for chunk in chunks:
            yield chunk.encode()

    stem = (job.filename.rsplit(".", 1)[0] or "import").replace('"', "")
    name = "".join(c for c in stem if c.isalnum() or c in "-_ ")[:80] or "import"
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}-failed-rows.csv"',
        "Cache-Control": "no-store"})
