"""The demo's emulated platforms (Shopify, Stripe): imported by name from the separate
``mercato-emulators`` distribution (``emulators/`` in the repository) only when the demo
starts, and served on a daemon thread of the demo's process."""

from __future__ import annotations

import importlib
import threading
import time
from types import ModuleType
from typing import Any

import httpx
import uvicorn

PACKAGE = "mercato_emulators"


class EmulatorsMissing(RuntimeError):
    """The ``mercato-emulators`` distribution is not installed."""


def load_emulator(name: str, needed_for: str) -> ModuleType:
    """``mercato_emulators.<name>``, imported now; ``EmulatorsMissing`` saying how to install
    the distribution when it is absent (``needed_for``: what of the demo needs it)."""
    try:
        return importlib.import_module(f"{PACKAGE}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in (PACKAGE, f"{PACKAGE}.{name}"):
            raise  # installed, but something it needs is missing: say so as it is
        raise EmulatorsMissing(
            f"{needed_for} needs the Mercato emulators, which are not installed: from the "
            "repository's root run `.venv/bin/pip install -e ./emulators` (or install the "
            "mercato-emulators wheel), then run `mercato demo` again") from None


def serve_on_thread(app: Any, host: str, port: int, name: str) -> str:
    """Serve an emulator's ASGI app on a daemon thread; its URL once it answers ``/health``."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    threading.Thread(target=server.run, name=name, daemon=True).start()
    url = f"http://{host}:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    return url
