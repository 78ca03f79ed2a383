"""Text no database column can hold: the NUL character (U+0000) and lone surrogates.

PostgreSQL refuses NUL in every text and JSONB value ("text fields cannot contain NUL"), so a
NUL that passed the schemas failed deep inside a query as a server error, while on SQLite the
same request succeeded. A lone surrogate (JSON's ``"\ud800"`` without its pair) is not a
character at all: it cannot be encoded to UTF-8, so both databases' drivers failed on it
(``UnicodeEncodeError``). ``nul_errors`` finds either in what a request sends (path and query
parameters, JSON bodies, keys included) so that ``MercatoRoute`` refuses it up front with a
422 naming the field, on both databases alike. Uploaded files may hold any byte; what is
parsed out of them is the importer's to check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

NUL = "\x00"
MESSAGE = "must not contain the NUL character (U+0000)"
SURROGATE_MESSAGE = "must be Unicode text: a lone surrogate (\\ud800-\\udfff) is not a character"
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89abcdefABCDEF][0-9a-fA-F]{2})")
"""How JSON text can carry either: an escape (UTF-8 bytes cannot encode a surrogate)."""


def storable_text(value: str) -> bool:
    """Text a column can hold: no NUL, no lone surrogate."""
    if NUL in value:
        return False
    return _encodable(value)


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _problem(value: str) -> str | None:
    """The message for text no column can hold, None for storable text."""
    if NUL in value:
        return MESSAGE
    if not _encodable(value):
        return SURROGATE_MESSAGE
    return None


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _shown(name: str) -> str:
    """A field name as an error can show it (valid JSON text, no NUL)."""
    shown = name.replace(NUL, "\\u0000")
    if not _encodable(shown):
        shown = shown.encode("utf-8", "backslashreplace").decode("utf-8")
    return shown


def _json_problems(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(dotted path, message) of the strings and keys no column can hold, as validation
    errors name fields."""
    if isinstance(value, str):
        message = _problem(value)
        if message:
            yield ".".join(path) or "body", message
    elif isinstance(value, dict):
        for key, item in value.items():
            message = _problem(key)
            if message:
                yield ".".join((*path, _shown(key))), message
            yield from _json_problems(item, (*path, _shown(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_problems(item, (*path, str(index)))


def _json_errors(body: bytes) -> dict[str, str]:
    if not _SUSPECT.search(body):  # the only ways JSON text can carry either
        return {}
    try:
        found: dict[str, str] = {}
        for field, message in _json_problems(json.loads(body)):
            found.setdefault(field, message)
        return found
    except (ValueError, RecursionError):
        return {}


def json_nul_fields(body: bytes) -> list[str]:
    """Fields of a JSON body holding NUL or a lone surrogate; none when it is not JSON (its
    parser says so)."""
    return list(_json_errors(body))


def nul_errors(path_params: Mapping[str, Any], query: Iterable[tuple[str, str]],
               json_body: bytes | None = None) -> list[dict[str, str]]:
    """``[{"field", "message"}]`` for every input holding text no column can hold (NUL, a
    lone surrogate): path, query, then body."""
    found: dict[str, str] = {}
    for name, value in path_params.items():
        message = _problem(value) if isinstance(value, str) else None
        if message:
            found.setdefault(_shown(name), message)
    for name, value in query:
        message = _problem(name) or _problem(value)
        if message:
            found.setdefault(_shown(name), message)
    if json_body:
        for field, message in _json_errors(json_body).items():
            found.setdefault(field, message)
    return [{"field": field, "message": message} for field, message in found.items()]
