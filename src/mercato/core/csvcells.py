"""CSV cells that a spreadsheet will not run: every CSV Mercato writes goes through here.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (OWASP's "CSV injection"): a customer's name
``=HYPERLINK(...)`` in an order export would run on the clerk's machine. Such cells are written
with a leading ``'`` (which spreadsheets show as text), and ``unescape`` takes it off again when
Mercato reads the file back, so export then import still changes nothing. A value that already
starts with quotes before such a character gets one more, so the round trip is exact.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = frozenset("=+-@\t\r")


def _formula_like(value: str) -> bool:
    rest = value.lstrip("'")
    return bool(rest) and rest[0] in FORMULA_STARTS


def escape(value: str) -> str:
    return f"'{value}" if _formula_like(value) else value


def unescape(value: str) -> str:
    """The inverse of ``escape``: ``unescape(escape(v)) == v`` for every string."""
    return value[1:] if value.startswith("'") and _formula_like(value) else value


class Writer:
    """``csv.writer`` whose text cells are escaped; numbers and the like pass as they are."""

    def __init__(self, out: Any, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([escape(cell) if isinstance(cell, str) else cell for cell in row])
