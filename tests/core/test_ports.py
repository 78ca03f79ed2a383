"""Ports let a lower module call a higher one without importing it."""

from __future__ import annotations

import pytest

from mercato.core.ports import Listeners, Port, PortNotProvided


def test_a_port_without_a_provider_raises_naming_the_module_that_provides_it() -> None:
    port: Port[[int], int] = Port("demo.double", "mercato.demo")
    with pytest.raises(PortNotProvided, match=r"mercato\.demo"):
        port(2)


def test_a_provided_port_calls_its_provider_and_a_new_provider_replaces_the_old() -> None:
    port: Port[[int], int] = Port("demo.double", "mercato.demo")
    port.provide(lambda n: n * 2)
    assert port(21) == 42
    port.provide(lambda n: n * 3)
    assert port(2) == 6
    assert port.provided


def test_listeners_run_in_order_once_each_even_when_registered_twice() -> None:
    calls: list[str] = []
    listeners: Listeners[[str]] = Listeners("demo.signed_in")

    def first(who: str) -> None:
        calls.append(f"first:{who}")

    def second(who: str) -> None:
        calls.append(f"second:{who}")

    listeners.add(first)
    listeners.add(second)
    listeners.add(first)
    listeners("ada")
    listeners.remove(second)
    listeners("bob")
    assert calls == ["first:ada", "second:ada", "first:bob"]


def test_the_app_provides_every_port_catalog_declares() -> None:
    from mercato.app import load_modules
    from mercato.catalog import ports
    from mercato.settings import Settings

    load_modules(Settings())
    assert ports.units_for_sale.provided
    assert ports.has_purchased.provided
