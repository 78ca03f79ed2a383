"""Query strings validated by one pydantic model in one call, for the busiest GET endpoints.

FastAPI validates each declared query parameter on its own, with Python work per parameter on
every request: the catalog listing's 14 parameters cost it more than its database query. A
model validates them all in pydantic's core at once. ``parse_query`` does that (a 422 names the
parameter, as FastAPI's own would) and ``query_parameters`` documents the model's fields as the
operation's query parameters (``openapi_extra``), so the API document keeps them.

The web side of pagination is here too: ``page_params`` (the ``limit``/``cursor`` query
parameters) and ``rendered_page``; cursors themselves are plain (``mercato.core.pagination``).
So is a report's choice of CSV (``wants_csv``: ``?format=csv`` or ``Accept: text/csv``) and its
answer (``csv_response``).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from mercato.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageParams, Slice

Q = TypeVar("Q", bound=BaseModel)


def parse_query(model: type[Q], request: Request) -> Q:
    """The request's query string as ``model`` (the last value of a repeated name, as FastAPI
    takes it for a single-valued parameter; names the model does not have are left alone)."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])}
             for error in exc.errors(include_url=False)]) from None


def prefixed(request: Request, prefix: str, *, max_names: int | None = None,
             max_values: int | None = None) -> dict[str, list[str]]:
    """Parameters named ``<prefix><name>``, by name, each with its values in order (a name may
    repeat): the catalog's ``attr.<name>=`` filters. More than ``max_names`` names, or more
    than ``max_values`` values of one, is a 422 naming the parameter: each is a condition of
    the listing's query, and a thousand of them made SQLite refuse the statement ("Expression
    tree is too large") and PostgreSQL plan it for minutes."""
    from mercato.core.errors import ValidationFailed

    found: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key.startswith(prefix) and len(key) > len(prefix):
            found.setdefault(key[len(prefix):], []).append(value)
    if max_names is not None and len(found) > max_names:
        raise ValidationFailed("Too many filters.", errors=[{
            "field": f"{prefix}<name>",
            "message": f"at most {max_names} {prefix}<name> filters (MERCATO_MAX_FILTERS)"}])
    if max_values is not None:
        errors = [{"field": f"{prefix}{name}",
                   "message": f"at most {max_values} values (MERCATO_MAX_FILTER_VALUES)"}
                  for name, values in found.items() if len(values) > max_values]
        if errors:
            raise ValidationFailed("Too many values for a filter.", errors=errors)
    return found


def filter_parameters(request: Request, prefix: str) -> dict[str, list[str]]:
    """``prefixed`` within the app's bounds: ``MERCATO_MAX_FILTERS`` names,
    ``MERCATO_MAX_FILTER_VALUES`` values each."""
    from mercato.settings import Settings

    settings = getattr(request.app.state, "settings", None) or Settings()
    return prefixed(request, prefix, max_names=settings.max_filters,
                    max_values=settings.max_filter_values)


def query_parameters(*models: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads these models with ``parse_query``."""
    parameters = []
    for model in models:
        schema = model.model_json_schema(mode="validation")
        required = set(schema.get("required", ()))
        for name, field_schema in schema["properties"].items():
            parameter = {"name": name, "in": "query", "required": name in required,
                         "schema": field_schema}
            if "description" in field_schema:
                parameter["description"] = field_schema["description"]
            parameters.append(parameter)
    return {"parameters": parameters}


async def page_params(
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page."),
    cursor: str | None = Query(None, description="`next_cursor` from the previous page."),
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def rendered_page(page: Slice[str]) -> Response:
    """A ``Page`` response from items that are JSON already (a listing's stored renderings),
    put together without parsing them again."""
    items = ",".join(page.items)
    body = f'{{"data":[{items}],"next_cursor":{json.dumps(page.next_cursor)}}}'
    return Response(body.encode(), media_type="application/json")


# -- CSV answers ---------------------------------------------------------------------------------

CSV_FORMAT = Query(None, description="`csv` for the answer as CSV (as `Accept: text/csv` "
                   "asks), `json` for JSON whatever `Accept` says.")
"""The ``format`` query parameter of a report that also answers CSV."""
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}
"""``responses=`` of such a route: the OpenAPI document names both answers."""


def wants_csv(request: Request, format: str | None) -> bool:
    """The caller asked for CSV: ``?format=csv``, or ``Accept: text/csv`` with no ``format``."""
    if format is not None:
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "").lower()


def csv_response(body: str, filename: str) -> Response:
    """A small CSV answer (written with ``core.csvcells``), as a download named ``filename``."""
    return Response(body.encode(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
