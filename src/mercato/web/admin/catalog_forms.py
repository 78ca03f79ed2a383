"""Form fields made from a product type's JSON Schema, and the attribute values read back.

A property with an ``enum`` is a select, a boolean a checkbox, a number or integer a number
input, anything else a text input (an array of strings: comma-separated). Each field is named
by the path the API's errors use (``attributes.rarity``, ``variants.0.attributes.condition``),
so a schema error lands beside its field. The values are checked by the catalog itself, against
the same schema, exactly as the API checks them: nothing here decides what is valid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from starlette.datastructures import FormData

from mercato.settings import Settings
from mercato.web.templating import errors_of, form_errors


@dataclass(frozen=True)
class AttributeField:
    """One input of an attributes fieldset, as ``admin/products/_macros.html`` draws it."""

    name: str
    label: str
    kind: str  # select, checkbox, number, text
    required: bool = False
    options: list[str] = field(default_factory=list)
    hint: str | None = None
    step: str = "any"


def _json_type(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return str(kind)


def _label(name: str, spec: Mapping[str, Any]) -> str:
    title = spec.get("title")
    return str(title) if isinstance(title, str) and title else name.replace("_", " ").capitalize()


def properties(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = schema.get("properties")
    if not isinstance(found, dict):
        return {}
    return {str(k): v for k, v in found.items() if isinstance(v, dict)}


def attribute_fields(schema: Mapping[str, Any], prefix: str) -> list[AttributeField]:
    """The schema's properties as fields named ``<prefix><property>``."""
    required = set(schema.get("required") or ())
    fields = []
    for name, spec in properties(schema).items():
        kind = _json_type(spec)
        described = spec.get("description")
        hint = described if isinstance(described, str) else None
        label, needed = _label(name, spec), name in required
        if isinstance(spec.get("enum"), list):
            fields.append(AttributeField(prefix + name, label, "select", needed,
                                         [_text(v) for v in spec["enum"]], hint))
        elif kind == "boolean":
            fields.append(AttributeField(prefix + name, label, "checkbox", needed, hint=hint))
        elif kind in ("number", "integer"):
            fields.append(AttributeField(prefix + name, label, "number", needed, hint=hint,
                                         step="1" if kind == "integer" else "any"))
        else:
            if kind == "array" and not hint:
                hint = "Separate values with commas."
            fields.append(AttributeField(prefix + name, label, "text", needed, hint=hint))
    return fields


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def attribute_values(attributes: Mapping[str, Any], prefix: str) -> dict[str, str]:
    """Stored attributes as the form shows them (``<prefix><name>`` -> text)."""
    return {prefix + name: _text(value) for name, value in attributes.items()}


def _number(raw: str, kind: str) -> Any:
    try:
        return int(raw) if kind == "integer" else (
            int(raw) if raw.lstrip("-").isdigit() else float(raw))
    except ValueError:
        return raw  # the schema refuses it, beside the field


def _enum_value(raw: str, options: list[Any]) -> Any:
    """An enum's value of the type the schema lists (``1`` for an integer enum)."""
    for option in options:
        if _text(option) == raw:
            return option
    return raw


def attributes_from_form(schema: Mapping[str, Any], prefix: str, form: FormData,
                         kept: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The attributes the form gives for the schema's properties; an empty input leaves the
    attribute out. ``kept``: stored attributes the schema does not list as properties (an
    import's extra columns), which the form does not show and a save keeps."""
    listed = properties(schema)
    out = {name: value for name, value in (kept or {}).items() if name not in listed}
    for name, spec in listed.items():
        kind = _json_type(spec)
        raw = form.get(prefix + name)
        text = raw.strip() if isinstance(raw, str) else ""
        if kind == "boolean" and not isinstance(spec.get("enum"), list):
            out[name] = text in ("true", "on", "1")
            continue
        if not text:
            continue
        if isinstance(spec.get("enum"), list):
            out[name] = _enum_value(text, spec["enum"])
        elif kind in ("number", "integer"):
            out[name] = _number(text, kind)
        elif kind == "array":
            out[name] = [part.strip() for part in text.split(",") if part.strip()]
        elif kind == "object":
            try:
                out[name] = json.loads(text)
            except ValueError:
                out[name] = text
        else:
            out[name] = text
    return out


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_dict(form: FormData) -> dict[str, str]:
    """What was entered, to show again (files and the CSRF token left out)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def problems_of(exc: Exception, prefix: str = "", rename: Callable[[str], str] | None = None
                ) -> tuple[dict[str, str], list[dict[str, str]]]:
    """A Pydantic or service error as ``errors`` (by field) and ``error_list``, each field
    named ``<prefix><field>`` (or as ``rename`` names it)."""
    errors = errors_of(exc)
    named = rename or (lambda field: prefix + field)
    return form_errors([{**e, "field": named(str(e["field"])) if e.get("field") else ""}
                        for e in errors])


def tags_of(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def media_directory(settings: Settings) -> Path | None:
    """Where uploaded images go (``web/admin/media.py``): ``MERCATO_MEDIA_DIR``, else ``media``
    beside a SQLite database file; None (no uploads) otherwise."""
    if settings.media_dir:
        return Path(settings.media_dir)
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "media"
    return None
