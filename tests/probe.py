"""The tenant-isolation probe's registry.

Every ``/api/v1`` route with a path parameter is probed: one organization's ids must be 404 to
another organization's owner, for every method. A module makes its routes probe-able by
registering, in ``tests/<module>/probe_fixtures.py``, a factory per path parameter name that
creates a resource in the given organization and returns its id (and, where a route needs a
valid body to get past validation, the body to send). No module writes a probe of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Org

Factory = Callable[[TestClient, Org], str]

FIXTURES: dict[str, Factory] = {}
BODIES: dict[tuple[str, str], Any] = {}
QUERIES: dict[tuple[str, str], dict[str, str]] = {}


def probe_fixture(param: str) -> Callable[[Factory], Factory]:
    """Register the factory that makes a ``{param}`` id inside an organization."""

    def decorator(factory: Factory) -> Factory:
        if param in FIXTURES:
            raise ValueError(f"probe fixture for {{{param}}} registered twice")
        FIXTURES[param] = factory
        return factory

    return decorator


def probe_body(method: str, path: str, body: Any) -> None:
    """A valid body for ``method path``, so the probe reaches the lookup, not validation."""
    BODIES[(method.upper(), path)] = body


def probe_query(method: str, path: str, params: dict[str, str]) -> None:
    """Query parameters ``method path`` needs, so the probe reaches the lookup."""
    QUERIES[(method.upper(), path)] = params


# -- storefront routes ----------------------------------------------------------------------------
# ``/store/v1/{store}/...`` routes with an id: one store's ids must be 404 through another
# store's slug, even for that store's signed-in shopper. A factory makes the resource in the
# store, as the given shopper (``sign_up`` of tests/storefront_helpers.py) where it is theirs.

StoreFactory = Callable[[TestClient, Org, dict[str, Any]], str]

STORE_FIXTURES: dict[str, StoreFactory] = {}
STORE_BODIES: dict[tuple[str, str], Any] = {}


def store_probe_fixture(param: str) -> Callable[[StoreFactory], StoreFactory]:
    """Register the factory that makes a ``{param}`` id of a storefront route in a store."""

    def decorator(factory: StoreFactory) -> StoreFactory:
        if param in STORE_FIXTURES:
            raise ValueError(f"store probe fixture for {{{param}}} registered twice")
        STORE_FIXTURES[param] = factory
        return factory

    return decorator


def store_probe_body(method: str, path: str, body: Any) -> None:
    """A valid body for a storefront route (``path`` as declared, ``/store/v1/{store}/...``)."""
    STORE_BODIES[(method.upper(), path)] = body


# -- names shared by every organization ------------------------------------------------------
# A path parameter may name something installed on the server rather than an organization's
# row (``{plugin_name}``: every organization reaches the same plugin, each with its own state
# of it), so another organization is not answered 404. For such a route the probe checks
# instead that the other organization's request neither shows nor changes the first one's
# state: the factory sets that state up with a value only it holds (the ``secret``), and
# ``state`` reads it back as the first organization sees it.

SharedFactory = Callable[[TestClient, Org], tuple[str, str]]
StateReader = Callable[[TestClient, Org, str], str]

SHARED: dict[str, tuple[SharedFactory, StateReader]] = {}


def shared_probe_fixture(param: str, state: StateReader) -> Callable[[SharedFactory],
                                                                      SharedFactory]:
    """Register ``{param}`` as a server-wide name: the factory gives (name, secret) after
    giving the organization a state of it that holds ``secret``; ``state`` reads that."""

    def decorator(factory: SharedFactory) -> SharedFactory:
        if param in SHARED or param in FIXTURES:
            raise ValueError(f"probe fixture for {{{param}}} registered twice")
        SHARED[param] = (factory, state)
        return factory

    return decorator
