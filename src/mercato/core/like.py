"""LIKE patterns built from what a caller typed: its text matches itself only.

A search box's ``%`` and ``_`` are characters to find, not wildcards: ``q=%`` used to become
the pattern ``%%`` and list every order and customer. ``like_literal`` escapes them (and the
escape character); ``like_contains`` is the "contains" search every list uses.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

LIKE_ESCAPE = "\\"
"""The escape character of every pattern built here (``ESCAPE '\\'`` on both databases)."""


def like_literal(text: str) -> str:
    """``text`` inside a LIKE pattern, matching itself only (with ``escape=LIKE_ESCAPE``)."""
    return (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")
            .replace("_", LIKE_ESCAPE + "_"))


def like_contains(column: ColumnElement[Any] | InstrumentedAttribute[Any],
                  text: str) -> ColumnElement[bool]:
    """``column`` contains ``text`` literally."""
    return column.like(f"%{like_literal(text)}%", escape=LIKE_ESCAPE)
