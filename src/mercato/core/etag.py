"""ETag / If-Match for editable resources, backed by each row's ``version`` column.

Models that use this map ``version`` as SQLAlchemy's ``version_id_col``, so even two writers
that both passed the If-Match check cannot both commit: the loser's UPDATE matches no row.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import Request, Response

from mercato.core.errors import PreconditionFailed


class Versioned(Protocol):
    id: str
    version: int


def etag_of(obj: Versioned) -> str:
    return f'"{obj.id}.{obj.version}"'


def set_etag(response: Response, obj: Versioned) -> None:
    response.headers["ETag"] = etag_of(obj)


def check_if_match(request: Request, obj: Versioned) -> None:
    """412 when the client's If-Match names another version (absent If-Match: last write wins)."""
    header = request.headers.get("if-match")
    if header is None:
        return
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" in candidates or etag_of(obj) in candidates:
        return
    raise PreconditionFailed(
        "The resource changed since you read it; fetch it again and retry.",
        errors=[{"field": "If-Match", "message": f"current ETag is {etag_of(obj)}"}],
        headers={"ETag": etag_of(obj)},
    )
