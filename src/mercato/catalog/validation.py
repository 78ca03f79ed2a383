"""Attributes are validated against their product type's JSON Schema on every write."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from mercato.core.errors import ValidationFailed

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": True}


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json), format_checker=FormatChecker())


def validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    return _validator(json.dumps(schema, sort_keys=True))


def check_schema(schema: dict[str, Any], field: str) -> dict[str, Any]:
    """A usable attributes schema: valid JSON Schema (2020-12) describing an object."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = ".".join(str(p) for p in exc.path)
        raise ValidationFailed("Not a valid JSON Schema.", errors=[
            {"field": f"{field}.{path}" if path else field, "message": exc.message}]) from None
    if schema.get("type") != "object":
        raise ValidationFailed("An attributes schema describes an object.",
                               errors=[{"field": f"{field}.type", "message": "must be \"object\""}])
    return schema


def attribute_errors(schema: dict[str, Any] | Draft202012Validator, value: dict[str, Any],
                     field: str) -> list[dict[str, str]]:
    """Every violation, each naming the attribute (``attributes.rarity``) it concerns. A bulk
    writer passes the validator itself: finding it again by the schema's text costs more
    than validating a card's attributes."""
    validator = schema if isinstance(schema, Draft202012Validator) else validator_for(schema)
    errors = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(e.path)):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [name for name in error.validator_value if name not in error.instance]
            path += missing[:1]
        errors.append({"field": ".".join([field, *path]), "message": error.message})
    return errors


def validate_attributes(schema: dict[str, Any], value: dict[str, Any], field: str) -> None:
    errors = attribute_errors(schema, value, field)
    if errors:
        raise ValidationFailed("Attributes do not match the product type.", errors=errors)
