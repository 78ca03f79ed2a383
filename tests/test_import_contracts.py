"""The faces contract (tools/import_contracts.py) that ``lint-imports`` runs in CI: it keeps
imports of another module's face and breaks on a reach into its internals."""

from __future__ import annotations

import grimp
from tools.import_contracts import FacesContract

OPTIONS = {
    "modules": ["mercato.catalog", "mercato.orders", "mercato.identity"],
    "faces": ["service", "ports"],
    "web_faces": ["deps"],
    "web_importers": ["mercato.*.api", "mercato.*.*.api"],
}


def _graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for importer, imported in imports:
        for name in (importer, imported):
            graph.add_module(name)
        graph.add_import(importer=importer, imported=imported, line_number=7,
                         line_contents=f"import {imported}")
    return graph


def _check(*imports: tuple[str, str]) -> list[dict[str, object]]:
    contract = FacesContract("faces", session_options={"root_packages": ["mercato"]},
                             contract_options=OPTIONS)
    result = contract.check(_graph(*imports), verbose=False)
    assert result.kept == (not result.metadata["broken"])
    return list(result.metadata["broken"])


def test_importing_another_modules_package_service_or_ports_is_kept() -> None:
    assert _check(("mercato.orders.service", "mercato.catalog"),
                  ("mercato.orders.service", "mercato.catalog.service"),
                  ("mercato.orders.service", "mercato.catalog.ports")) == []


def test_a_reach_into_another_modules_models_is_broken_and_named_with_its_line() -> None:
    broken = _check(("mercato.catalog.reviews.service", "mercato.orders.models"))
    assert broken == [{"importer": "mercato.catalog.reviews.service",
                       "imported": "mercato.orders.models", "lines": [7],
                       "owner": "mercato.orders"}]


def test_a_module_may_import_its_own_internals() -> None:
    assert _check(("mercato.orders.service", "mercato.orders.models")) == []


def test_only_web_modules_may_import_another_modules_deps() -> None:
    assert _check(("mercato.catalog.reviews.api", "mercato.identity.deps")) == []
    broken = _check(("mercato.catalog.service", "mercato.identity.deps"))
    assert [b["imported"] for b in broken] == ["mercato.identity.deps"]
