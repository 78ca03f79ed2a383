"""What the inventory pages share: locations as choices, lines typed into a text area, and
the API's error fields renamed to the form's."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from mercato.core.pagination import MAX_LIMIT, PageParams
from mercato.inventory import Location
from mercato.inventory import service as stock_service

MAX_LOCATIONS_SHOWN = 1000


def all_locations(session: Session) -> list[Location]:
    """The organization's locations (a store has a handful; the first thousand at most)."""
    found: list[Location] = []
    cursor = None
    while len(found) < MAX_LOCATIONS_SHOWN:
        page = stock_service.list_locations(session, PageParams(limit=MAX_LIMIT, cursor=cursor))
        found.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return found


def location_options(locations: list[Location], *, active_only: bool = True
                     ) -> list[tuple[str, str]]:
    return [(loc.id, f"{loc.name} ({loc.code})") for loc in locations
            if loc.active or not active_only]


def renamed(errors: list[dict[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Errors with the API's field names (``lines.0.delta``) as the form's (``change``); a name
    under ``lines.N.`` that is not listed becomes ``lines`` with "Line N+1: " before it."""
    out = []
    for error in errors:
        field = str(error.get("field") or "")
        message = str(error.get("message") or "is invalid")
        if field in names:
            field = names[field]
        else:
            found = re.fullmatch(r"lines\.(\d+)(?:\.(\w+))?", field)
            if found and "lines" in names.values():
                what = f" ({found.group(2).replace('_', ' ')})" if found.group(2) else ""
                field, message = "lines", f"Line {int(found.group(1)) + 1}{what}: {message}"
        out.append({"field": field, "message": message})
    return out


def parse_lines(text: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Lines typed one per row, cells separated by commas, tabs or spaces (``SKU-1, 3``): each
    row as ``{column: cell}``; the schema then checks the values."""
    rows = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        cells = [c for c in re.split(r"[,\t;]|\s+", raw.strip()) if c]
        rows.append({name: cells[i] if i < len(cells) else ""
                     for i, name in enumerate(columns)})
    return rows
