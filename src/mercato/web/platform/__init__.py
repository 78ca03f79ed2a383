"""The operator's console (``/platform``): the platform operator signs in and creates,
suspends, reactivates and limits organizations, over the same calls as ``/api/platform/v1``."""

from __future__ import annotations

from fastapi import APIRouter

from mercato.web.platform import pages
from mercato.web.routing import fenced

routers: list[APIRouter] = [fenced(pages.router)]
