"""Query strings validated by one pydantic model in one call, for the busiest GET endpoints.

FastAPI validates each declared query parameter on its own, with Python work per parameter on
every request: the catalog listing's 14 parameters cost it more than its database query. A
model validates them all in pydantic's core at once. ``parse_query`` does that (a 422 names the
parameter, as FastAPI's own would) and ``query_parameters`` documents the model's fields as the
operation's query parameters (``openapi_extra``), so the API document keeps them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

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


def prefixed(request: Request, prefix: str) -> dict[str, list[str]]:
    """Parameters named ``<prefix><name>``, by name, each with its values in order (a name may
    repeat): the catalog's ``attr.<name>=`` filters."""
    found: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        if key.startswith(prefix) and len(key) > len(prefix):
            found.setdefault(key[len(prefix):], []).append(value)
    return found


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
