"""The ``mercato`` command: serve, worker, migrate, org, operator, import, inventory, events,
demo."""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import asdict
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from mercato import __version__
from mercato.settings import Settings, get_settings

app = typer.Typer(
    help="Mercato: one system of record for a retailer's catalog, stock and orders.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
org_app = typer.Typer(help="Manage organizations (tenants).", no_args_is_help=True)
app.add_typer(org_app, name="org")
domain_app = typer.Typer(help="Manage organizations' custom domains.", no_args_is_help=True)
org_app.add_typer(domain_app, name="domain")
import_app = typer.Typer(help="Bulk-load data from files.", no_args_is_help=True)
app.add_typer(import_app, name="import")
inventory_app = typer.Typer(help="Check stock against its ledger.", no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
events_app = typer.Typer(help="Event deliveries that failed every attempt (dead letters).",
                         no_args_is_help=True)
app.add_typer(events_app, name="events")
operator_app = typer.Typer(help="Manage platform operators (outside every organization).",
                           no_args_is_help=True)
app.add_typer(operator_app, name="operator")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mercato {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Settings come from MERCATO_* environment variables; see the README."""


DEMO_DIR = Path("./mercato-demo")
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", file_okay=False,
    help="A demo's directory (its mercato.db and secret.key). Default: MERCATO_DATABASE_URL, "
         "else ./mercato-demo when it exists, else ./mercato.db.")]


def _use_data_dir(data_dir: Path) -> None:
    """Point this process (and the processes it starts) at a demo directory's database and,
    unless MERCATO_SECRET_KEY is set, its key."""
    os.environ["MERCATO_DATABASE_URL"] = f"sqlite:///{(data_dir / 'mercato.db').resolve()}"
    key_file = data_dir / "secret.key"
    if "MERCATO_SECRET_KEY" not in os.environ and key_file.is_file():
        os.environ["MERCATO_SECRET_KEY"] = key_file.read_text().strip()


def _settings(data_dir: Path | None = None, *, creates: bool = False,
              needs_key: bool = False) -> Settings:
    """The settings of a command that uses the database, found in the order the README gives:
    ``--data-dir``, MERCATO_DATABASE_URL, then ./mercato-demo when it exists. A command that
    may not create a database (``creates`` False) stops with a message when there is none,
    instead of leaving an empty file behind. ``needs_key``: refuse first without
    MERCATO_SECRET_KEY."""
    if data_dir is not None:
        if not creates and not (data_dir / "mercato.db").is_file():
            _fail(f"no Mercato database in {data_dir} (expected {data_dir / 'mercato.db'})")
        data_dir.mkdir(parents=True, exist_ok=True)
        _use_data_dir(data_dir)
    elif "MERCATO_DATABASE_URL" not in os.environ and (DEMO_DIR / "mercato.db").is_file():
        _use_data_dir(DEMO_DIR)
    get_settings.cache_clear()
    settings = get_settings()
    if needs_key:
        _require_secret_key(settings)
    if not creates:
        path = _sqlite_file(settings.database_url)
        if path is not None and not path.is_file():
            _fail(f"no database at {path.resolve()}: run `mercato migrate` (or `mercato "
                  "demo`) first, or name one with --data-dir or MERCATO_DATABASE_URL")
    return settings


def _sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None for other databases and in-memory ones)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _where(url: str) -> str:
    """The database a command used, as a person would name it (no password)."""
    from sqlalchemy.engine import make_url

    path = _sqlite_file(url)
    return str(path.resolve()) if path is not None else make_url(url).render_as_string(
        hide_password=True)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _configure(settings: Settings) -> None:
    from mercato.core.observability import configure_logging

    configure_logging(settings.log_level, settings.log_format)


def _require_secret_key(settings: Settings) -> None:
    """Refuse, with the reason and no traceback, when MERCATO_SECRET_KEY is missing."""
    try:
        settings.require_secret_key()
    except RuntimeError as exc:
        _fail(str(exc))


def _migrate(settings: Settings) -> None:
    from mercato.migrations import upgrade

    upgrade(settings.database_url)


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Bring the database schema up to date (MERCATO_DATABASE_URL)."""
    settings = _settings(data_dir, creates=True)
    _configure(settings)
    _migrate(settings)
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    migrate: Annotated[bool, typer.Option("--migrate/--no-migrate",
                                          help="Migrate the database before serving.")] = True,
    with_worker: Annotated[bool, typer.Option(
        "--with-worker", help="Also dispatch events inside the server (single-process setups)."
    )] = False,
    data_dir: DataDir = None,
) -> None:
    """Serve the HTTP API."""
    settings = _settings(data_dir, creates=True, needs_key=True)
    _configure(settings)
    if settings.public_url is None:
        import structlog

        structlog.get_logger("mercato.cli").warning(
            "public_url_unset", hint="Set MERCATO_PUBLIC_URL (https://shops.example.com): "
            "without it, emails that carry a link (password reset, email verification) are "
            "sent only for stores with a verified custom domain.")
    if migrate and settings.migrate_on_start:
        _migrate(settings)
    _run_server(host, port, workers, run_worker=with_worker or settings.run_worker)


def _run_server(host: str, port: int, workers: int, *, run_worker: bool) -> None:
    import uvicorn

    from mercato.core.proxies import SERVER_OPTIONS

    if run_worker:
        os.environ["MERCATO_RUN_WORKER"] = "true"
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # the server processes share their metrics through files here; ours, so removed after
        metrics_dir = tempfile.mkdtemp(prefix="mercato-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    get_settings.cache_clear()
    try:
        if workers == 1 or not hasattr(socket, "SO_REUSEPORT"):  # Windows: uvicorn's workers
            uvicorn.run(APP, host=host, port=port, workers=workers, log_config=None,
                        access_log=False, lifespan="on", **SERVER_OPTIONS)
        else:
            _run_workers(_listening_sockets(host, port, workers))
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


APP = "mercato.asgi:app"


def _listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per server process, all on one port (SO_REUSEPORT): the kernel
    spreads new connections over them. On a single shared socket (uvicorn's own workers) an
    idle process accepted every connection waiting, so 16 kept connections opened together
    were often all served by one process while the other idled."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    for _ in range(count):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]  # port 0: every socket takes the one the first was given
        sock.listen(2048)
        sockets.append(sock)
    return sockets


def _serve_on(sock: socket.socket, started: EventType) -> None:
    """A server process: the app on its own socket (``_listening_sockets``); sets ``started``
    once it serves."""
    import uvicorn

    from mercato.core.proxies import SERVER_OPTIONS

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                started.set()

    config = uvicorn.Config(APP, log_config=None, access_log=False, lifespan="on",
                            **SERVER_OPTIONS)
    Server(config).run(sockets=[sock])


def _run_workers(sockets: list[socket.socket]) -> None:
    """A process per socket until SIGINT or SIGTERM, which each process gets too (they finish
    their requests). A process that dies is replaced on the same socket, so the connections
    waiting on it are kept; one that dies before it served (the app cannot load) stops all,
    instead of being started again and again."""
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def start(sock: socket.socket) -> tuple[multiprocessing.process.BaseProcess, EventType]:
        started = spawn.Event()
        process = spawn.Process(target=_serve_on, args=(sock, started))
        process.start()
        return process, started

    processes = [start(sock) for sock in sockets]
    failed = False
    while not stop.wait(0.5):
        for i, (process, started) in enumerate(processes):
            if process.is_alive():
                continue
            if not started.is_set():
                failed = True
                stop.set()
                break
            typer.echo(f"server process {process.pid} exited ({process.exitcode}); "
                       "starting another", err=True)
            processes[i] = start(sockets[i])
    for process, _ in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn's graceful shutdown
    for process, _ in processes:
        process.join()
    if failed:
        typer.echo("a server process failed to start", err=True)
        raise typer.Exit(3)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Deliver everything due, then exit.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Dispatch outbox events to their handlers until stopped (SIGINT/SIGTERM)."""
    from mercato.app import load_modules
    from mercato.core.db import Database
    from mercato.core.outbox import Dispatcher

    settings = _settings(data_dir, needs_key=True)
    _configure(settings)
    load_modules(settings)
    # the dispatcher and each background loop hold a connection briefly; the webhook sender's
    # threads do too (a read before each POST, a write after it), never during the POST
    db = Database.from_settings(settings, pool_size=2 + settings.webhook_concurrency // 4)
    dispatcher = Dispatcher(db, batch_size=settings.worker_batch_size,
                            lease_seconds=settings.worker_lease_seconds,
                            max_attempts=settings.worker_max_attempts,
                            poll_interval=settings.worker_poll_interval_seconds)
    if once:
        count = dispatcher.drain()
        typer.echo(f"delivered {count}")
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    dispatcher.run_forever(stop)


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option(help="Display name.")],
    slug: Annotated[str, typer.Option(help="URL name: lowercase letters, digits, hyphens.")],
    owner_email: Annotated[str, typer.Option(help="The owner's sign-in email.")],
    owner_password: Annotated[str | None, typer.Option(
        help="The owner's password (8+ characters); asked for when omitted.")] = None,
    domain: Annotated[list[str] | None, typer.Option(
        help="Custom domain (repeatable), verified at once: the operator vouches for it.")]
    = None,
    data_dir: DataDir = None,
) -> None:
    """Create an organization with its owner and print it as JSON."""
    from mercato.core.errors import MercatoError

    settings = _settings(data_dir, creates=True, needs_key=True)
    if owner_password is None:
        # asked on stderr, so that stdout stays pure JSON (`mercato org create ... > org.json`)
        owner_password = typer.prompt("Owner password", hide_input=True, err=True)
    try:
        result = _create_org(settings, name=name, slug=slug, owner_email=owner_email,
                             owner_password=owner_password, domains=domain or [])
    except MercatoError as exc:
        typer.echo(json.dumps({"error": exc.code, "detail": exc.detail, "errors": exc.errors}),
                   err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, indent=2))


def _create_org(settings: Settings, *, name: str, slug: str, owner_email: str,
                owner_password: str, domains: list[str]) -> dict[str, object]:
    from mercato.core.db import Database
    from mercato.identity.permissions import Role
    from mercato.identity.service import Identity
    from mercato.tenancy import service as tenancy

    _migrate(settings)
    db = Database.from_settings(settings, pool_size=1)
    identity = Identity(settings, db)
    try:
        with db.transaction() as session:
            session.info["actor_label"] = "cli"
            org = tenancy.create_organization(session, name=name, slug=slug)
            owner = identity.bootstrap_owner(session, org.id, owner_email, owner_password)
            for domain in domains:  # the operator is trusted: no proof asked
                tenancy.verify_by_operator(session, org.id, domain,
                                           platform_hosts=settings.platform_hosts)
            session.flush()
            return {
                "id": org.id, "slug": org.slug, "name": org.name,
                "domains": [d.domain for d in tenancy.list_domains(session)],
                "owner": {"id": owner.id, "email": owner.email, "role": Role.OWNER.value},
            }
    finally:
        db.dispose()


@operator_app.command("create")
def operator_create(
    email: Annotated[str, typer.Option(help="The operator's sign-in email.")],
    password: Annotated[str | None, typer.Option(
        help="The operator's password (8+ characters); asked for when omitted.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a platform operator (signs in at POST /api/platform/v1/auth/token and
    /platform/login) and print it as JSON."""
    from mercato.core.db import Database
    from mercato.core.errors import MercatoError
    from mercato.identity.service import Identity

    settings = _settings(data_dir, creates=True, needs_key=True)
    if password is None:
        password = typer.prompt("Operator password", hide_input=True, err=True)
    _migrate(settings)
    db = Database.from_settings(settings, pool_size=1)
    try:
        with db.transaction() as session:
            session.info["actor_label"] = "cli"
            operator = Identity(settings, db).create_operator(session, email=email,
                                                              password=password)
            session.flush()
            result = {"id": operator.id, "email": operator.email}
    except MercatoError as exc:
        typer.echo(json.dumps({"error": exc.code, "detail": exc.detail, "errors": exc.errors}),
                   err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    typer.echo(json.dumps(result, indent=2))


@domain_app.command("verify")
def org_domain_verify(
    host: Annotated[str, typer.Argument(metavar="HOST",
                                        help="The domain, e.g. cards.example.com.")],
    org: Annotated[str, typer.Option(help="Organization slug.")],
    move: Annotated[bool, typer.Option(
        "--move", help="Take the domain from another organization that has it verified.")]
    = False,
) -> None:
    """Mark a custom domain verified by hand (the operator vouches; no DNS or HTTP check),
    claiming it for the organization first if needed; print it as JSON."""
    from mercato.core.db import SYSTEM, Database
    from mercato.core.errors import MercatoError
    from mercato.tenancy import service as tenancy

    settings = get_settings()
    _configure(settings)
    db = Database.from_settings(settings, pool_size=1)
    try:
        with db.session(write=False, tenant=SYSTEM) as session:
            organization = tenancy.get_by_slug(session, org)
            org_id = organization.id if organization else None
        if org_id is None:
            typer.echo(f"error: no organization {org!r}", err=True)
            raise typer.Exit(1)
        try:
            with db.transaction(tenant=org_id) as session:
                session.info["actor_label"] = "cli:domain-verify"
                row = tenancy.verify_by_operator(session, org_id, host, move=move,
                                                 platform_hosts=settings.platform_hosts)
                result = {"id": row.id, "domain": row.domain, "organization": org,
                          "verified": True, "verified_by": row.verified_by}
        except MercatoError as exc:
            typer.echo(json.dumps({"error": exc.code, "detail": exc.detail,
                                   "errors": exc.errors}), err=True)
            raise typer.Exit(1) from None
        typer.echo(json.dumps(result, indent=2))
    finally:
        db.dispose()


@import_app.command("products")
def import_products(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="CSV: Mercato, TCGplayer or BinderPOS layout.")],
    org: Annotated[str, typer.Option(help="Organization slug.")],
    dry_run: Annotated[bool, typer.Option(help="Check and count; write nothing.")] = False,
    file_format: Annotated[str, typer.Option(
        "--format", help="auto, mercato, tcgplayer or binderpos.")] = "auto",
    location: Annotated[str | None, typer.Option(
        help="TCGplayer files: the location (id or code) whose stock Total Quantity and Add "
             "to Quantity set; default the organization's only active location.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Import products from a CSV here and now, with a progress bar; print the result as JSON.

    The job is recorded like an upload through the API (``GET /api/v1/imports/{id}``) and is
    held under a lease while this command runs; if the command dies, a worker finishes it.
    Exits 0 when every row was applied, 3 when rows were skipped (``completed_with_errors``:
    the JSON says which and why), 1 when the import could not run or stopped.
    """
    from mercato.catalog import imports
    from mercato.catalog.csvio import FORMATS, CsvFormatError, CsvLimits
    from mercato.core.db import SYSTEM, Database
    from mercato.core.errors import ValidationFailed
    from mercato.tenancy.service import get_by_slug

    if file_format not in ("auto", *FORMATS):
        raise typer.BadParameter(f"one of auto, {', '.join(FORMATS)}", param_hint="--format")
    settings = _settings(data_dir)
    _configure(settings)
    _migrate(settings)
    db = Database.from_settings(settings, pool_size=2)
    try:
        with db.session(write=False, tenant=SYSTEM) as session:
            organization = get_by_slug(session, org)
        if organization is None:
            _fail(f"no organization {org!r} in {_where(settings.database_url)}")
        try:
            checked = imports.check_file(  # before the transaction: no lock while reading it
                file.read_bytes(), None if file_format == "auto" else file_format,
                CsvLimits(max_columns=settings.csv_max_columns,
                          max_row_chars=settings.csv_max_row_chars))
            with db.transaction(tenant=organization.id) as session:
                job = imports.create_job(session, checked=checked, filename=file.name,
                                         dry_run=dry_run, created_by=None, claim=True,
                                         location=location)
                job_id, total = job.id, job.rows_total
        except CsvFormatError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except ValidationFailed as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(1) from None
        with typer.progressbar(length=total, label=f"importing {file.name}",
                               file=sys.stderr) as bar:  # stdout stays pure JSON
            seen = 0

            def advance(done: int, _total: int) -> None:
                nonlocal seen
                bar.update(done - seen)
                seen = done

            imports.run_job(db, job_id, progress=advance)
        with db.session(write=False, tenant=organization.id) as session:
            job = imports.get_job(session, job_id)
            errors = imports.job_errors(session, job_id, limit=20)
            result = {name: getattr(job, name) for name in (
                "id", "status", "format", "dry_run", "rows_total", "rows_done", "created",
                "updated", "unchanged", "failed", "products_created", "warnings",
                "location_id", "adds_skipped", "message")}
            result["errors"] = [{"line": e.line, "sku": e.sku, "field": e.field,
                                 "message": e.message, "severity": e.severity}
                                for e in errors]
        typer.echo(json.dumps(result, indent=2))
        if result["status"] == "completed_with_errors":
            raise typer.Exit(3)
        if result["status"] != "succeeded":
            raise typer.Exit(1)
    finally:
        db.dispose()


@inventory_app.command("verify")
def inventory_verify(
    org: Annotated[str | None, typer.Option(help="Organization slug (default: all).")] = None,
    rebuild: Annotated[bool, typer.Option(
        help="Set each level to what its ledger sums to, then check again.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Prove stock levels equal the replayed ledger, and reserved units equal what active
    reservations hold; print what differs as JSON and exit 1 if anything does."""
    from sqlalchemy import select

    from mercato import inventory
    from mercato.core.db import SYSTEM, Database
    from mercato.tenancy.models import Organization

    settings = _settings(data_dir)
    _configure(settings)
    db = Database.from_settings(settings, pool_size=2)
    try:
        with db.session(write=False, tenant=SYSTEM) as session:
            query = select(Organization.id, Organization.slug)
            if org is not None:
                query = query.where(Organization.slug == org)
            organizations = session.execute(query.order_by(Organization.slug)).all()
        if org is not None and not organizations:
            _fail(f"no organization {org!r} in {_where(settings.database_url)}")
        report: dict[str, Any] = {}
        for org_id, slug in organizations:
            if rebuild:
                with db.transaction(tenant=org_id) as session:
                    session.info["actor_label"] = "cli:inventory-rebuild"
                    rebuilt = inventory.rebuild_levels(session)
            with db.session(write=False, tenant=org_id) as session:
                problems = inventory.verify_ledger(session)
            report[slug] = {"ok": not problems, **({"rebuilt": rebuilt} if rebuild else {}),
                            "problems": [asdict(p) for p in problems]}
        typer.echo(json.dumps(report, indent=2))
        if any(not entry["ok"] for entry in report.values()):
            raise typer.Exit(1)
    finally:
        db.dispose()


OrgOption = Annotated[str | None, typer.Option(
    "--org", help="Organization slug (default: every organization).")]
HandlerOption = Annotated[str | None, typer.Option(
    "--handler", help="Only this handler's (e.g. nats-export).")]
TypeOption = Annotated[str | None, typer.Option("--type", help="Only this event type's.")]


def _events_db(data_dir: Path | None, org: str | None) -> tuple[Any, str | None]:
    """The database, and the id of ``--org`` (None for every organization)."""
    from mercato.core.db import Database
    from mercato.core.errors import NotFound
    from mercato.events import operator

    settings = _settings(data_dir)
    _configure(settings)
    db = Database.from_settings(settings, pool_size=2)
    try:
        return db, operator.organization_id(db, org) if org is not None else None
    except NotFound:
        db.dispose()
        _fail(f"no organization {org!r} in {_where(settings.database_url)}")


@events_app.command("dead")
def events_dead(
    org: OrgOption = None, handler: HandlerOption = None, type_: TypeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List dead-lettered event deliveries, newest first: id, organization, handler, event
    type, resource, attempts, when the last one failed, the last error."""
    from mercato.events import operator

    db, org_id = _events_db(data_dir, org)
    try:
        letters = operator.dead(db, organization_id=org_id, handler=handler, event_type=type_)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(letters, indent=2, default=str))
        return
    for letter in letters:
        typer.echo(operator.as_line(letter))
    typer.echo(f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'}")


@events_app.command("replay")
def events_replay(
    ids: Annotated[list[int] | None, typer.Argument(
        help="Dead letters' ids (from `mercato events dead`).", show_default=False)] = None,
    replay_all: Annotated[bool, typer.Option(
        "--all", help="Every dead letter (of --org, --handler, --type).")] = False,
    org: OrgOption = None, handler: HandlerOption = None, type_: TypeOption = None,
    data_dir: DataDir = None,
) -> None:
    """Put dead letters back in line (pending, attempts reset, due now): the ids given, or
    with --all (or --handler/--type) every one that matches. Exits 1 when an id given is not
    a dead letter."""
    from mercato.events import operator

    if ids and (replay_all or handler or type_):
        _fail("give ids, or --all/--handler/--type, not both")
    if not ids and not (replay_all or handler or type_):
        _fail("give the ids to replay, or --all (optionally with --handler/--type)")
    db, org_id = _events_db(data_dir, org)
    try:
        if ids:
            outcomes = operator.replay_ids(db, ids, organization_id=org_id)
            for outcome in outcomes:
                typer.echo(outcome.message, err=not outcome.replayed)
            if not all(outcome.replayed for outcome in outcomes):
                raise typer.Exit(1)
            return
        replayed = operator.replay_matching(db, organization_id=org_id, handler=handler,
                                            event_type=type_)
    finally:
        db.dispose()
    typer.echo(f"replayed {len(replayed)} dead letter{'' if len(replayed) == 1 else 's'}"
               + (f": {' '.join(map(str, replayed))}" if replayed else ""))


DEMO_SLUG = "demo"
DEMO_EMAIL = "owner@demo.mercato.dev"
DEMO_PASSWORD = "mercato-demo"  # noqa: S105 - the demo's published sign-in


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its database and key.")]
    = DEMO_DIR,
) -> None:
    """Create a demo store on SQLite (once) and serve it, with events dispatched in-process."""
    from mercato.channels.demo import load_shopify_emulator
    from mercato.core.demo_servers import EmulatorsMissing

    try:  # before anything is created: the demo's Shopify store is an emulator
        load_shopify_emulator()
    except EmulatorsMissing as exc:
        _fail(str(exc))
    data_dir.mkdir(parents=True, exist_ok=True)
    if "MERCATO_DATABASE_URL" not in os.environ:
        os.environ["MERCATO_DATABASE_URL"] = f"sqlite:///{(data_dir / 'mercato.db').resolve()}"
    if "MERCATO_SECRET_KEY" not in os.environ:
        key_file = data_dir / "secret.key"
        if not key_file.exists():
            # created owner-only from the start: never readable by others, even briefly
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        os.environ["MERCATO_SECRET_KEY"] = key_file.read_text().strip()
    os.environ.setdefault("MERCATO_LOG_FORMAT", "console")
    os.environ.setdefault("MERCATO_PUBLIC_URL", f"http://{host}:{port}")
    get_settings.cache_clear()
    settings = get_settings()
    _configure(settings)
    from mercato.core.db import Database
    from mercato.tenancy.service import get_by_slug

    _migrate(settings)
    db = Database.from_settings(settings, pool_size=1)
    with db.session(write=False) as session:
        exists = get_by_slug(session, DEMO_SLUG) is not None
    db.dispose()
    if not exists:
        from mercato.demo_store import seed_store

        made = _create_org(settings, name="Demo Card Shop", slug=DEMO_SLUG,
                           owner_email=DEMO_EMAIL, owner_password=DEMO_PASSWORD, domains=[])
        owner = made["owner"]
        assert isinstance(owner, dict)
        seed_store(settings, str(made["id"]), str(owner["id"]))
    from mercato.demo_store import CASHIER_EMAIL, CUSTOMER_EMAIL, PROMO_CODE

    base = f"http://{host}:{port}"
    shop = _demo_shopify(settings, base, host, port + 1)
    cards = _demo_stripe(settings, base, host, port + 2)
    tcg = _demo_tcgplayer(settings, host, port + 3)
    bay = _demo_ebay(settings, base, host, port + 4)
    amz = _demo_amazon(settings, host, port + 5)
    pee = _demo_shopee(settings, base, host, port + 6)
    tts = _demo_tiktok(settings, base, host, port + 7)
    typer.echo(
        f"\nMercato demo store '{DEMO_SLUG}' at {base}\n"
        f"  admin:     {base}/admin  (email {DEMO_EMAIL}, password {DEMO_PASSWORD})\n"
        f"  storefront: {base}/s/{DEMO_SLUG}/  (customer {CUSTOMER_EMAIL}, password "
        f"{DEMO_PASSWORD}; code {PROMO_CODE} takes 10% off)\n"
        f"  POS:       {base}/pos  (cashier {CASHIER_EMAIL}, password {DEMO_PASSWORD})\n"
        f"  cards:     an emulated Stripe at {cards} takes card payments at checkout; the "
        f"page offers its test cards\n             (one succeeds, one needs 3-D Secure, one "
        f"is declined)\n"
        f"  API docs:  {base}/docs\n"
        f"  API token: curl -s -X POST {base}/api/v1/auth/token -H 'content-type: "
        f"application/json' -d '{{\"email\": \"{DEMO_EMAIL}\", \"password\": "
        f"\"{DEMO_PASSWORD}\"}}'\n"
        f"  data:      {data_dir.resolve()}\n"
        f"  Shopify:   an emulated store at {shop} is connected (channel 'Shopify (emulated)');"
        f"\n             sell a card there and watch Mercato's order and stock follow:\n"
        f"             curl -s -X POST {shop}/_emulator/orders -H 'content-type: "
        f"application/json' -d '{{\"lines\": [{{\"sku\": \"DEMO-BOLT-LP\", "
        f"\"quantity\": 1}}]}}'\n"
        f"  TCGplayer: an emulated store at {tcg} is connected (channel 'TCGplayer "
        f"(emulated)'): its cards are\n             linked, stock pushed, orders and market "
        f"prices pulled; sell one with its SKU id from {tcg}/_emulator/products:\n"
        f"             curl -s -X POST {tcg}/_emulator/orders -H 'content-type: "
        f"application/json' -d '{{\"items\": [{{\"skuId\": N, \"quantity\": 1}}]}}'\n"
        f"  eBay:      an emulated seller account at {bay} is connected (channel 'eBay "
        f"(emulated)'): cards listed with\n             their condition descriptors; a "
        f"buyer's order is pulled within 10 minutes (or run Pull orders):\n"
        f"             curl -s -X POST {bay}/_emulator/orders -H 'content-type: "
        f"application/json' -d '{{\"lines\": [{{\"sku\": \"DEMO-CHARIZARD-NM\", "
        f"\"quantity\": 1}}]}}'\n"
        f"  Amazon:    an emulated SP-API seller at {amz} is connected (channel 'Amazon "
        f"(emulated)'): sealed products\n             linked to its listings, stock pushed; "
        f"a buyer's order is pulled within 10 minutes (or run Pull orders):\n"
        f"             curl -s -X POST {amz}/_emulator/orders -H 'content-type: "
        f"application/json' -d '{{\"lines\": [{{\"sku\": \"DEMO-BLB-BOX\", "
        f"\"quantity\": 1}}]}}'\n"
        f"  Shopee:    an emulated shop at {pee} is connected (channel 'Shopee (emulated)'): "
        f"its listings are linked\n             by SKU and stock pushed; a buyer's order is "
        f"pushed to Mercato and pulled at once:\n"
        f"             curl -s -X POST {pee}/_emulator/orders -H 'content-type: "
        f"application/json' -d '{{\"lines\": [{{\"sku\": \"DEMO-CHARIZARD-NM\", "
        f"\"quantity\": 1}}]}}'\n"
        f"  TikTok:    an emulated TikTok Shop at {tts} is connected (channel 'TikTok Shop "
        f"(emulated)'): cards linked by\n             seller SKU, stock pushed; its "
        f"webhooks bring a buyer's order in seconds:\n"
        f"             curl -s -X POST {tts}/_emulator/orders -H 'content-type: "
        f"application/json' -d '{{\"lines\": [{{\"seller_sku\": \"DEMO-PIKACHU-NM\", "
        f"\"quantity\": 1}}]}}'\n"
    )
    _run_server(host, port, 1, run_worker=True)


def _demo_org_id(settings: Settings) -> str:
    from mercato.core.db import Database
    from mercato.tenancy.service import get_by_slug

    db = Database.from_settings(settings, pool_size=1)
    try:
        with db.session(write=False) as session:
            org = get_by_slug(session, DEMO_SLUG)
            assert org is not None
            return org.id
    finally:
        db.dispose()


def _demo_stripe(settings: Settings, base: str, host: str, port: int) -> str:
    from mercato.payments.demo import start_stripe_emulator

    return start_stripe_emulator(settings, _demo_org_id(settings), DEMO_SLUG, base, host, port)


def _demo_ebay(settings: Settings, base: str, host: str, port: int) -> str:
    from mercato.channels.ebay.demo import seed

    return seed(settings, _demo_org_id(settings), DEMO_SLUG, base, host, port)


def _demo_amazon(settings: Settings, host: str, port: int) -> str:
    from mercato.channels.amazon.demo import seed

    return seed(settings, _demo_org_id(settings), host, port)


def _demo_shopee(settings: Settings, base: str, host: str, port: int) -> str:
    from mercato.channels.shopee.demo import seed

    return seed(settings, _demo_org_id(settings), DEMO_SLUG, base, host, port)


def _demo_tiktok(settings: Settings, base: str, host: str, port: int) -> str:
    from mercato.channels.tiktok.demo import seed

    return seed(settings, _demo_org_id(settings), DEMO_SLUG, base, host, port)


def _demo_tcgplayer(settings: Settings, host: str, port: int) -> str:
    from mercato.channels.tcgplayer.demo import seed

    return seed(settings, _demo_org_id(settings), host, port)


def _demo_shopify(settings: Settings, base: str, host: str, port: int) -> str:
    from mercato.channels.demo import seed

    return seed(settings, _demo_org_id(settings), DEMO_SLUG, base, host, port)


def main() -> None:
    app()
