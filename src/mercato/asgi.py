"""ASGI entry point for uvicorn (``mercato.asgi:app``), built from MERCATO_* settings.

Run by hand, give uvicorn ``--no-proxy-headers`` (``mercato serve`` does): the app believes
forwarded headers from MERCATO_TRUSTED_PROXIES itself, and uvicorn would otherwise rewrite the
client from any loopback peer's before the app sees it."""

from mercato.app import create_app
from mercato.core.observability import configure_logging
from mercato.settings import get_settings

_settings = get_settings()
configure_logging(_settings.log_level, _settings.log_format)
app = create_app(_settings)
