"""Every setting Mercato reads, from ``MERCATO_*`` environment variables."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Settings are read once per process; tests build their own instances."""

    model_config = SettingsConfigDict(env_prefix="MERCATO_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./mercato.db",
        description="SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Keys access tokens and encryption at rest; required by `serve` and `worker`.",
    )
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    refresh_token_ttl_seconds: int = Field(
        default=43200, ge=300, le=30 * 86400,
        description="How long a staff sign-in lasts at most, however often it is refreshed "
        "(12 h: a working day and its overtime).")
    refresh_token_idle_seconds: int = Field(
        default=14400, ge=300, le=30 * 86400,
        description="A refresh token unused this long expires, and with it the sign-in "
        "(4 h: a lunch break keeps it, a night does not). At least the access token's "
        "lifetime: left unset, it grows to that.")
    migrate_on_start: bool = True
    run_worker: bool = Field(
        default=False, description="Run the event dispatcher inside the server process (demo)."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_busy_timeout_ms: int = Field(default=30000, ge=0)
    sqlite_mmap_mb: int = Field(
        default=1024, ge=0,
        description="SQLite: how much of the database file reads map into memory instead of "
        "copying into each connection's page cache (0: none).",
    )
    read_threads: int = Field(
        default=2, ge=1, le=200,
        description="Threads per process that run GET requests' database work. A process runs "
        "Python on one core at a time: more threads only take turns with the GIL, which slows "
        "every request. Raise it when the database is far away (requests mostly wait on it).",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, /metrics answers only requests that carry "
        "`Authorization: Bearer <this token>`; unset, it is open (bind or firewall it).")
    login_max_failures_per_email: int = Field(
        default=5, ge=1, description="Failed sign-ins per email (staff; a shopper's per store) "
        "in the window; then 429, even for the right password.")
    login_max_failures_per_client: int = Field(
        default=20, ge=1, description="Failed sign-ins per client address in the window "
        "(the peer, or what a trusted proxy reports: trusted_proxies).")
    login_failure_window_seconds: int = Field(default=900, ge=1)
    idempotency_ttl_hours: int = Field(default=24, ge=24)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    facet_cache_seconds: float = Field(
        default=10.0, ge=0,
        description="How long facet counts are reused at most: the delay before another "
        "process's catalog writes show in them (this process's show at once). 0: never reuse.",
    )
    max_json_bytes: int = Field(
        default=1024 * 1024, ge=1024,
        description="Largest JSON (or other non-upload) request body, in bytes; larger is "
        "413 payload_too_large, refused before it is read whole.")
    max_webhook_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024,
        description="Largest body a provider's webhook (/webhooks/...) may send, in bytes: a "
        "Shopify order with hundreds of lines runs to megabytes.")
    max_upload_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024,
        description="Largest file upload (a multipart request: CSV imports), in bytes.")
    max_json_depth: int = Field(
        default=32, ge=2, le=512,
        description="How deeply arrays and objects of a JSON body may nest; deeper is 422.")
    max_json_string_chars: int = Field(
        default=100_000, ge=1000,
        description="Longest string (or key) in a JSON body, in characters; longer is 422.")
    max_query_string_bytes: int = Field(
        default=8192, ge=256,
        description="Longest query string (after `?`), in bytes; longer is 422.")
    max_filters: int = Field(
        default=20, ge=1, le=1000,
        description="Most `attr.<name>=` filters one product listing may name; more is 422.")
    max_filter_values: int = Field(
        default=50, ge=1, le=10000,
        description="Most values one `attr.<name>=` filter may repeat; more is 422.")
    statement_timeout_ms: int = Field(
        default=15000, ge=0,
        description="PostgreSQL: a statement an HTTP request runs is cancelled after this "
        "long and the request answered 503 statement_timeout (0: never). The worker, "
        "imports and migrations are not limited.")
    csv_max_columns: int = Field(
        default=200, ge=10, le=100_000,
        description="Most columns (and cells in a row) an imported CSV may have.")
    csv_max_row_chars: int = Field(
        default=1_000_000, ge=1000,
        description="Longest row of an imported CSV, in characters (its cells together).")
    worker_batch_size: int = Field(default=100, ge=1, le=1000)
    worker_poll_interval_seconds: float = Field(default=0.2, gt=0)
    worker_lease_seconds: int = Field(default=60, ge=1)
    worker_max_attempts: int = Field(default=10, ge=1)
    nats_url: str | None = Field(
        default=None, description="NATS server (nats://host:4222) with JetStream: every "
        "committed event is also published there (docs/events.md); unset: no export.")
    nats_subject_prefix: str = Field(
        default="mercato", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$", max_length=100,
        description="Subjects are <prefix>.<organization slug>.<event type>.")
    nats_stream: str = Field(
        default="MERCATO_EVENTS", pattern=r"^[A-Za-z0-9_-]+$", max_length=100,
        description="The JetStream stream the events go to; created (subjects <prefix>.>) "
        "when absent.")
    smtp_host: str | None = Field(
        default=None, description="SMTP server for customer emails; unset: emails are recorded, "
        "not sent.")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_from: str = Field(default="store@mercato.local",
                           description="Sender address of customer emails.")
    customer_token_ttl_seconds: int = Field(default=86400, ge=60, le=30 * 86400)
    cart_ttl_hours: int = Field(default=24 * 14, ge=1,
                                description="A cart untouched this long expires.")
    checkout_hold_minutes: int = Field(
        default=15, ge=1, description="How long checkout holds stock while a payment is "
        "pending; an abandoned payment releases it after this.")
    channel_push_interval_seconds: float = Field(
        default=0.25, gt=0, description="How often the worker sends changed stock numbers "
        "to connected channels.")
    extensions: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra modules to import at start-up (plugins: routers, event handlers).",
    )
    public_url: str | None = Field(
        default=None, description="The platform's own base URL (https://shops.example.com).")
    media_dir: str | None = Field(
        default=None, description="Directory of the images uploaded in the admin (product "
        "media), served at /media/...; every server process must see the same one. Unset: "
        "`media` beside a SQLite database file; with PostgreSQL, no uploads (media stay "
        "links to images served elsewhere).")
    public_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="The platform's own host names (comma-separated), besides the host of "
        "public_url: never claimable as a store's custom domain.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses and networks (comma-separated, 10.0.0.5 or 10.0.0.0/8) of the "
        "proxies whose X-Forwarded-For and X-Forwarded-Proto are believed; anyone else's are "
        "ignored. Default: none, not even loopback.",
    )
    domain_verifier: str = Field(
        default="mercato.tenancy.verification:dns_or_http",
        description="module:function that checks a custom domain's proof (DNS TXT or HTTP).",
    )
    webhook_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names or addresses (comma-separated) that outbound calls (webhook "
        "endpoints, workflow and plugin calls) may reach although they are private, loopback "
        "or link-local; anything else on such an address is refused.",
    )
    webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60,
        description="How long an outbound webhook delivery waits for the endpoint's answer; "
        "longer counts as a failed attempt.")
    webhook_max_attempts: int = Field(
        default=10, ge=1, le=50,
        description="Attempts per webhook delivery; after the last it is dead-lettered (and "
        "can be retried by hand).")
    webhook_retry_base_seconds: float = Field(
        default=30.0, gt=0,
        description="Backoff after a delivery's first failed attempt; it doubles after each "
        "later one (with jitter), up to webhook_retry_cap_seconds.")
    webhook_retry_cap_seconds: float = Field(default=6 * 3600.0, gt=0)
    webhook_concurrency: int = Field(
        default=16, ge=1, le=256,
        description="Webhook sends a worker process runs at once (threads).")
    webhook_endpoint_concurrency: int = Field(
        default=4, ge=1, le=16,
        description="Sends to one endpoint in flight at once, across workers: a slow endpoint "
        "holds at most this many of them.")
    webhook_breaker_threshold: int = Field(
        default=5, ge=1,
        description="Consecutive failed attempts that open an endpoint's circuit breaker.")
    webhook_breaker_cooldown_seconds: float = Field(
        default=60.0, gt=0,
        description="How long an open breaker holds an endpoint's deliveries (without using "
        "their attempts) before one probe is sent.")
    webhook_lease_seconds: float = Field(
        default=60.0, gt=0,
        description="How long a worker owns a delivery it sends; a worker that dies leaves "
        "it to another after this. More than webhook_timeout_seconds.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins (comma-separated, scheme://host[:port]) allowed to call "
        "the API; any other origin gets no Access-Control-Allow-Origin.",
    )

    @field_validator("extensions", "public_hosts", "cors_origins", "trusted_proxies",
                     "webhook_allow_hosts", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http(s) URL with a host, e.g. https://shops.example.com")
        return value.strip().rstrip("/")

    @field_validator("public_hosts", "webhook_allow_hosts")
    @classmethod
    def _check_public_hosts(cls, value: list[str]) -> list[str]:
        return [_bare_host(host) for host in value]

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"MERCATO_TRUSTED_PROXIES: {entry!r} is not an IP address or network "
                    "(10.0.0.5, 10.0.0.0/8, ::1; 0.0.0.0/0 and ::/0 trust everyone)") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        origins = []
        for origin in value:
            parts = urlsplit(origin.strip().rstrip("/"))
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path \
                    or parts.query or parts.fragment or parts.username:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port]); list "
                                 "each origin, no wildcard")
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            default = {"http": 80, "https": 443}[parts.scheme]
            port = f":{parts.port}" if parts.port not in (None, default) else ""
            origins.append(f"{parts.scheme}://{host}{port}")  # as a browser sends it
        return origins

    @model_validator(mode="after")
    def _lease_outlives_timeout(self) -> Settings:
        """A send must end (answer or timeout) before its lease does, or another worker would
        send it again while the first still waits."""
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds + 1:
            raise ValueError("MERCATO_WEBHOOK_LEASE_SECONDS must exceed "
                             "MERCATO_WEBHOOK_TIMEOUT_SECONDS by more than a second")
        return self

    @property
    def platform_hosts(self) -> frozenset[str]:
        """Host names that are the platform's own: never a store's custom domain."""
        hosts = set(self.public_hosts)
        if self.public_url:
            hosts.add((urlsplit(self.public_url).hostname or "").rstrip("."))
        return frozenset(hosts)

    @model_validator(mode="after")
    def _refresh_outlives_access(self) -> Settings:
        """A client refreshes when its access token expires: by then its refresh token must
        still be good."""
        if self.refresh_token_idle_seconds < self.access_token_ttl_seconds:
            if "refresh_token_idle_seconds" in self.model_fields_set:
                raise ValueError("MERCATO_REFRESH_TOKEN_IDLE_SECONDS must be at least "
                                 "MERCATO_ACCESS_TOKEN_TTL_SECONDS")
            # left at its default: long-lived access tokens stretch it, rather than refuse
            self.refresh_token_idle_seconds = self.access_token_ttl_seconds
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def require_secret_key(self) -> str:
        if self.secret_key is None or not self.secret_key.get_secret_value():
            raise RuntimeError(
                "MERCATO_SECRET_KEY is not set: generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return self.secret_key.get_secret_value()


def _bare_host(host: str) -> str:
    """``Shops.Example.com.:443`` -> ``shops.example.com``."""
    host = host.strip().lower()
    if not host.startswith("["):
        host = host.rsplit(":", 1)[0]
    return host.rstrip(".")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
