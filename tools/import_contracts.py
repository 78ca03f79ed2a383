"""An import-linter contract type for Mercato's module faces (``lint-imports`` loads it from
``pyproject.toml``: ``contract_types``).

A module's face is what other modules may import from it: its package (``mercato.orders``,
whose ``__init__`` re-exports the names others call) and, where a module keeps its use cases
there, its ``service`` module. A web module (``api``/``deps``, the pages of ``mercato.web``) may
also import another module's ``deps`` (FastAPI dependencies, e.g. the signed-in shopper) and
``schemas`` (the API's shapes, which pages validate forms with). Anything else (``models``,
``schemas``, internal helpers, a sub-package) is the module's own business: a direct import of
it from another module breaks the contract, reported with its line.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import grimp
from importlinter.application import contract_utils, output
from importlinter.application.contract_utils import AlertLevel
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class FacesContract(Contract):
    """Options:

    - ``modules``: the modules whose faces are checked (each one's package name).
    - ``faces``: submodule names that are part of every module's face (e.g. ``service``).
    - ``web_faces``: submodule names only web modules may import (e.g. ``deps``).
    - ``web_importers``: fnmatch patterns of the web modules (e.g. ``mercato.*.api``).
    - ``ignore_imports``: import expressions to leave out, as in the built-in contracts.
    """

    type_name = "faces"

    modules = fields.ListField(subfield=fields.StringField())
    faces = fields.ListField(subfield=fields.StringField(), required=False)
    web_faces = fields.ListField(subfield=fields.StringField(), required=False)
    web_importers = fields.ListField(subfield=fields.StringField(), required=False)
    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(AlertLevel, default=AlertLevel.ERROR)
    broken_contract_guidance = fields.TextField(required=False)

    def _option(self, name: str) -> list[str]:
        """An option's strings (import-linter's fields are descriptors, untyped for mypy)."""
        value: Any = getattr(self, name, None)
        return [str(item) for item in value or ()]

    def _owner(self, module: str) -> str | None:
        for package in self._option("modules"):
            if module == package or module.startswith(f"{package}."):
                return package
        return None

    def _is_web(self, module: str) -> bool:
        return any(fnmatch.fnmatchcase(module, pattern)
                   for pattern in self._option("web_importers"))

    def _allowed(self, importer: str, imported: str, owner: str) -> bool:
        if imported == owner:
            return True
        rest = imported[len(owner) + 1:]
        if rest in self._option("faces"):
            return True
        return rest in self._option("web_faces") and self._is_web(importer)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=self.unmatched_ignore_imports_alerting,  # type: ignore[arg-type]
        )
        broken: list[dict[str, object]] = []
        for imported in sorted(graph.modules):
            owner = self._owner(imported)
            if owner is None:
                continue
            for importer in sorted(graph.find_modules_that_directly_import(imported)):
                source = self._owner(importer)
                if source is None or source == owner or self._allowed(importer, imported, owner):
                    continue
                lines = [d["line_number"] for d in
                         graph.get_import_details(importer=importer, imported=imported)]
                broken.append({"importer": importer, "imported": imported, "lines": lines,
                               "owner": owner})
        return ContractCheck(kept=not broken, warnings=list(removal.warnings),
                             ignored_import_count=removal.ignored_import_count,
                             metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        output.print_error("Modules may import only each other's faces:", bold=False)
        output.new_line()
        for link in check.metadata["broken"]:
            lines = ", ".join(map(str, link["lines"]))
            output.print_error(
                f"- {link['importer']} -> {link['imported']} (l.{lines}): not in the face of "
                f"{link['owner']}", bold=False)
            output.new_line()
        contract_utils.render_broken_contract_guidance(self.broken_contract_guidance)  # type: ignore[arg-type]
