"""Text no database column can hold: the NUL character (U+0000).

PostgreSQL refuses NUL in every text and JSONB value ("text fields cannot contain NUL"), so a
NUL that passed the schemas failed deep inside a query as a server error, while on SQLite the
same request succeeded. ``nul_errors`` finds NUL in what a request sends (path and query
parameters, JSON bodies, keys included) so that ``MercatoRoute`` refuses it up front with a
422 naming the field, on both databases alike. Uploaded files may hold any byte; what is
parsed out of them is the importer's to check.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

NUL = "\x00"
MESSAGE = "must not contain the NUL character (U+0000)"


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _shown(name: str) -> str:
    return name.replace(NUL, "\\u0000")


def _json_paths(value: Any, path: tuple[str, ...] = ()) -> Iterator[str]:
    """Dotted paths (as validation errors name fields) of the strings and keys holding NUL."""
    if isinstance(value, str):
        if NUL in value:
            yield ".".join(path) or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in key:
                yield ".".join((*path, _shown(key)))
            yield from _json_paths(item, (*path, _shown(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_paths(item, (*path, str(index)))


def json_nul_fields(body: bytes) -> list[str]:
    """Fields of a JSON body holding NUL; none when it is not JSON (its parser says so)."""
    if b"\\u0000" not in body:  # the only way JSON text can carry a NUL
        return []
    try:
        return list(dict.fromkeys(_json_paths(json.loads(body))))
    except ValueError:
        return []


def nul_errors(path_params: Mapping[str, Any], query: Iterable[tuple[str, str]],
               json_body: bytes | None = None) -> list[dict[str, str]]:
    """``[{"field", "message"}]`` for every input holding NUL: path, query, then body."""
    fields = [name for name, value in path_params.items()
              if isinstance(value, str) and NUL in value]
    fields += [_shown(name) for name, value in query if NUL in name or NUL in value]
    if json_body:
        fields += json_nul_fields(json_body)
    return [{"field": field, "message": MESSAGE} for field in dict.fromkeys(fields)]
