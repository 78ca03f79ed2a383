"""What a definition means: each step type's parameters, templates, conditions, schedules.

Templates are Jinja2 in a sandbox (``SandboxedEnvironment``: no attribute of Python's
internals, no imports, no file access), rendered against the execution's context (the
trigger's input, plus ``steps.<id>`` for earlier steps' outputs); a name that is not there
fails the step rather than rendering as nothing. Only substitutions are allowed
(``{{ data.order.id }}``, ``{{ data.name | default("there") | title }}``): no statements, loops,
calls, arithmetic or filters that pad, so no template can spin or build gigabytes; the output
is read chunk by chunk and cut off past ``MAX_RENDERED`` characters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mercato.core.egress import EgressRefused, check_url
from mercato.core.errors import ValidationFailed
from mercato.workflows.schemas import Condition, Schedule, Step, Trigger

MAX_RENDERED = 20_000
"""Characters one rendered template may produce."""

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
FILTERS = frozenset({"default", "d", "lower", "upper", "title", "capitalize", "trim", "length",
                     "count", "round", "int", "float", "string", "first", "last", "truncate",
                     "abs", "tojson", "urlencode"})
"""Filters a template may use: none of them makes text longer than what it is given."""
_SIMPLE = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr,
           nodes.Getitem, nodes.Const)


def template_problem(text: str) -> str | None:
    """Why ``text`` is not an allowed template, or None when it is."""
    try:
        tree = _env.parse(text)
    except TemplateError as exc:
        return f"not a valid template: {exc}"
    for node in tree.find_all(nodes.Node):
        if isinstance(node, nodes.Filter):
            if node.name not in FILTERS:
                return f"the filter {node.name!r} is not allowed"
            if node.dyn_args or node.dyn_kwargs or not all(
                    isinstance(arg, nodes.Const) for arg in
                    [*node.args, *(kw.value for kw in node.kwargs)]):
                return "filter arguments must be plain values"
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            return f"the attribute {node.attr!r} is not allowed"
        elif isinstance(node, nodes.Keyword) or (
                isinstance(node, nodes.Neg) and isinstance(node.node, nodes.Const)):
            continue
        elif not isinstance(node, _SIMPLE):
            return ("only substitutions such as {{ data.order.id }} are allowed "
                    f"(not {type(node).__name__})")
    return None


# -- step parameters ------------------------------------------------------------------------

class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SendEmail(_Params):
    to: str = Field(min_length=1, max_length=1000)
    subject: str = Field(min_length=1, max_length=1000)
    body: str = Field(min_length=1, max_length=20_000)


class CallWebhook(_Params):
    url: str = Field(min_length=1, max_length=2000)
    body: Any = None
    timeout: float = Field(default=10, gt=0, le=30)


class SetOrderTag(_Params):
    order_id: str = Field(min_length=1, max_length=200)
    tag: str = Field(min_length=1, max_length=200)
    remove: bool = False


class SetOrderStatus(_Params):
    order_id: str = Field(min_length=1, max_length=200)
    status: Literal["open", "closed", "cancelled"]
    reason: str = Field(default="Cancelled by a workflow", max_length=500)


class AdjustStock(_Params):
    sku: str = Field(min_length=1, max_length=200)
    location: str = Field(min_length=1, max_length=200)
    delta: int | str
    note: str | None = Field(default=None, max_length=2000)


class Wait(_Params):
    seconds: int = Field(ge=1, le=30 * 24 * 3600)


class Branch(_Params):
    conditions: list[Condition] = Field(min_length=1, max_length=20)


PARAMS: dict[str, type[_Params]] = {
    "send_email": SendEmail, "call_webhook": CallWebhook, "set_order_tag": SetOrderTag,
    "set_order_status": SetOrderStatus, "adjust_stock": AdjustStock, "wait": Wait,
    "branch": Branch,
}
TEMPLATED = {"send_email", "call_webhook", "set_order_tag", "set_order_status", "adjust_stock"}


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}.{i}")


def _check_params(kind: str, params: dict[str, Any], field: str, allow_hosts: Iterable[str],
                  errors: list[dict[str, str]]) -> None:
    try:
        PARAMS[kind].model_validate(params)
    except ValidationError as exc:
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"])
            errors.append({"field": f"{field}.params" + (f".{loc}" if loc else ""),
                           "message": error["msg"]})
        return
    if kind in TEMPLATED:
        for path, text in _strings(params, f"{field}.params"):
            problem = template_problem(text)
            if problem:
                errors.append({"field": path, "message": problem})
    if kind == "call_webhook":
        url = str(params["url"])
        if "{{" in url or "{%" in url:
            errors.append({"field": f"{field}.params.url",
                           "message": "the URL is fixed: no template in it"})
            return
        try:
            check_url(url, allow_hosts, field=f"{field}.params.url")
        except EgressRefused as exc:
            errors.extend(exc.errors or [{"field": f"{field}.params.url",
                                          "message": exc.detail}])
    if kind == "adjust_stock" and isinstance(params.get("delta"), int) and params["delta"] == 0:
        errors.append({"field": f"{field}.params.delta", "message": "must not be 0"})


def _check_steps(steps: list[Step], field: str, seen: set[str], allow_hosts: Iterable[str],
                 errors: list[dict[str, str]]) -> None:
    for i, step in enumerate(steps):
        here = f"{field}.{i}"
        if step.id in seen:
            errors.append({"field": f"{here}.id", "message": f"step id {step.id!r} is used twice"})
        seen.add(step.id)
        _check_params(step.type, step.params, here, allow_hosts, errors)
        if step.compensate is not None:
            if step.compensate.type in ("wait", "branch"):
                errors.append({"field": f"{here}.compensate.type",
                               "message": "a compensation cannot wait or branch"})
            else:
                _check_params(step.compensate.type, step.compensate.params,
                              f"{here}.compensate", allow_hosts, errors)
        _check_steps(step.then, f"{here}.then", seen, allow_hosts, errors)
        _check_steps(step.else_, f"{here}.else", seen, allow_hosts, errors)


def validate(trigger: Trigger, steps: list[Step], allow_hosts: Iterable[str]) -> None:
    """Raise ``ValidationFailed`` naming every field that is wrong (``steps.1.params.url``)."""
    del trigger  # its structure is the schema's; nothing more to check
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    _check_steps(steps, "steps", seen, allow_hosts, errors)
    if sum(1 for _ in _all_steps(steps)) > 200:
        errors.append({"field": "steps", "message": "at most 200 steps in all, branches too"})
    if errors:
        raise ValidationFailed("The workflow is not valid.", errors=errors)


def _all_steps(steps: list[Step]) -> Iterator[Step]:
    for step in steps:
        yield step
        yield from _all_steps(step.then)
        yield from _all_steps(step.else_)


def stored(steps: list[Step]) -> list[dict[str, Any]]:
    """Steps as kept in the database and shown by the API (``else``, no empty fields)."""
    return [step.model_dump(mode="json", by_alias=True, exclude_none=True,
                            exclude_defaults=True) | {"id": step.id, "type": step.type}
            for step in steps]


def stored_trigger(trigger: Trigger) -> dict[str, Any]:
    return trigger.model_dump(mode="json", exclude_none=True)


# -- templates ------------------------------------------------------------------------------

def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Every string in ``value`` rendered against ``context`` (lists and objects walked)."""
    if isinstance(value, str):
        if "{" not in value:
            return value
        problem = template_problem(value)
        if problem:
            raise ValidationFailed("A template is not allowed.",
                                   errors=[{"field": "params", "message": problem}])
        parts: list[str] = []
        size = 0
        for chunk in _env.from_string(value).generate(dict(context)):
            size += len(chunk)
            if size > MAX_RENDERED:
                raise ValidationFailed("A template rendered too much text.", errors=[
                    {"field": "params", "message": "rendered too long"}])
            parts.append(chunk)
        return "".join(parts)
    if isinstance(value, Mapping):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value


# -- conditions -----------------------------------------------------------------------------

_MISSING = object()


def lookup(data: Mapping[str, Any], path: str) -> Any:
    current: Any = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _same(actual: Any, expected: Any) -> bool:
    a, b = _number(actual), _number(expected)
    if a is not None and b is not None:
        return a == b
    if isinstance(actual, bool) or isinstance(expected, bool):
        return str(actual).lower() == str(expected).lower()
    return str(actual) == str(expected)


def holds(condition: Condition, data: Mapping[str, Any]) -> bool:
    actual = lookup(data, condition.path)
    if condition.op == "exists":
        return (actual is not _MISSING and actual is not None) == (condition.value is not False)
    if actual is _MISSING:
        return condition.op == "ne"
    if condition.op == "eq":
        return _same(actual, condition.value)
    if condition.op == "ne":
        return not _same(actual, condition.value)
    if condition.op == "in":
        return any(_same(actual, item) for item in condition.value)
    if condition.op == "contains":
        if isinstance(actual, list):
            return any(_same(item, condition.value) for item in actual)
        return isinstance(actual, str) and str(condition.value) in actual
    a, b = _number(actual), _number(condition.value)
    left: Any
    right: Any
    if a is not None and b is not None:
        left, right = a, b
    elif isinstance(actual, str) and isinstance(condition.value, str):
        left, right = actual, condition.value
    else:
        return False
    return bool({"gt": left > right, "gte": left >= right, "lt": left < right,
                 "lte": left <= right}[condition.op])


def all_hold(conditions: Iterable[Condition], data: Mapping[str, Any]) -> bool:
    return all(holds(condition, data) for condition in conditions)


# -- schedules ------------------------------------------------------------------------------

def next_run(schedule: Schedule, after: dt.datetime) -> dt.datetime:
    """The first time strictly after ``after`` the schedule is due (UTC)."""
    if schedule.every_minutes is not None:
        return after + dt.timedelta(minutes=schedule.every_minutes)
    assert schedule.daily_at is not None
    hour, minute = (int(part) for part in schedule.daily_at.split(":"))
    due = after.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return due if due > after else due + dt.timedelta(days=1)
