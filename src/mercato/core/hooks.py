"""Hook points where plugins may change or refuse what a module is about to do.

The modules that own the work (catalog saves products, orders creates orders, checkout
prepares a checkout and its payment) sit below the plugins module, so they cannot call it.
They call ``run_before`` here instead, in their own session and transaction, with the data as
a plain JSON-safe dict; the plugins module (``mercato.plugins``) fills the one runner slot
when it is imported and runs the organization's enabled plugins in priority order. With no
runner (no plugins module loaded) the data passes unchanged: no plugin, no hook.

A hook that refuses raises ``ValidationFailed`` (422) naming the plugin; the caller's
transaction then rolls back and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from mercato.core.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)

BeforeHook = Literal["before_product_save", "before_order_create", "before_checkout",
                     "before_payment"]
BEFORE_HOOKS: tuple[str, ...] = get_args(BeforeHook)
"""Every hook point, in the order a storefront sale meets them (product save aside)."""

Runner = Callable[[Session, str, dict[str, Any]], dict[str, Any]]
Wants = Callable[[str], bool]

_runner: list[tuple[Runner, Wants]] = []


def provide_runner(runner: Runner, wants: Wants) -> None:
    """Install the runner, and what says whether any installed plugin hooks a point (the
    plugins module does, at import); providing again replaces them."""
    _runner[:] = [(runner, wants)]


def hooked(hook: BeforeHook) -> bool:
    """Whether any installed plugin hooks this point: when none does, callers skip building
    the hook's data at all."""
    return bool(_runner) and _runner[0][1](hook)


def run_before(session: Session, hook: BeforeHook, data: dict[str, Any]) -> dict[str, Any]:
    """The data as the organization's enabled plugins left it (each may change it or refuse:
    ``ValidationFailed``). Runs in the caller's transaction, scoped to its organization."""
    if not hooked(hook):
        return data
    return _runner[0][0](session, hook, data)


def run_before_model(session: Session, hook: BeforeHook, data: M, *, key: str,
                     context: dict[str, Any] | None = None, keep: tuple[str, ...] = ()) -> M:
    """``run_before`` for a module's input model: the hooks get ``{**context, key: <the
    fields given, as JSON>}`` and the module gets back the model they left, validated
    again (``revalidate``); ``keep`` names fields no plugin may change. Free when no
    installed plugin hooks the point."""
    if not hooked(hook):
        return data
    given = data.model_dump(mode="json", exclude_unset=True)
    result = run_before(session, hook, {**(context or {}), key: given})
    changed = result.get(key)
    if not isinstance(changed, dict):
        raise ValidationFailed("A plugin changed the data into something that is not valid.",
                               errors=[{"field": key, "message": "must be an object"}])
    return revalidate(type(data), {**changed, **{k: getattr(data, k) for k in keep}}, key)


def revalidate(model: type[M], data: Any, field: str) -> M:
    """``data`` (as the hooks left it) validated again as the caller's input ``model``: a
    plugin cannot hand the module what its API would refuse (422 naming the fields)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            "A plugin changed the data into something that is not valid.",
            errors=[{"field": ".".join(str(p) for p in (field, *e["loc"])),
                     "message": e["msg"]} for e in exc.errors()]) from None
