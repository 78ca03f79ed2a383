"""Ports: a function a lower module needs and a higher module provides.

Modules are layered (docs/architecture.md): a module imports only those below it. Where a
lower module needs an answer only a higher one has (the storefront listing, in catalog, needs
inventory's units for sale; a review, in catalog, needs to know whether orders has a purchase),
the lower module declares a ``Port`` and the higher one provides it when it is imported
(``app.load_modules`` imports every module). The call is an ordinary synchronous call in the
caller's session and transaction: nothing lags and nothing is queued, only the import points
down the layers.

A port with no provider raises at the call rather than answering something made up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class PortNotProvided(RuntimeError):
    """The module that provides a port was not imported (``app.load_modules`` imports all)."""


class Port(Generic[P, R]):
    """One function slot, declared by the module that calls it, filled by one provider."""

    def __init__(self, name: str, provider: str) -> None:
        self.name = name
        self.provider = provider  # the module expected to provide it, for the error message
        self._fn: Callable[P, R] | None = None

    def provide(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Fill the port (usable as a decorator); providing it again replaces the function,
        so a module reloaded by a test does not stack providers."""
        self._fn = fn
        return fn

    @property
    def provided(self) -> bool:
        return self._fn is not None

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._fn is None:
            raise PortNotProvided(
                f"{self.name} is provided by {self.provider}, which was not imported "
                "(mercato.app.load_modules imports every module)")
        return self._fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Port({self.name!r}, provided={self.provided})"


class Listeners(Generic[P]):
    """Functions a lower module calls when something happens (a shopper signed in, ...),
    registered by higher modules at import; each is called in the caller's transaction."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._fns: list[Callable[P, None]] = []

    def add(self, fn: Callable[P, None]) -> Callable[P, None]:
        """Register ``fn`` (usable as a decorator); registering it twice keeps one."""
        if fn not in self._fns:
            self._fns.append(fn)
        return fn

    def remove(self, fn: Callable[P, None]) -> None:
        if fn in self._fns:
            self._fns.remove(fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for fn in list(self._fns):
            fn(*args, **kwargs)
