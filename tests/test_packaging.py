"""The package declares what it imports, and CI's checkers cannot change under it."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower().replace("_", "-") for r in requirements}


def test_every_third_party_module_the_package_imports_is_a_declared_dependency() -> None:
    """Imported but undeclared (anyio was) works only while another package happens to bring
    it along, in a version nobody chose."""
    declared = _names(PROJECT["dependencies"])
    owners = packages_distributions()
    missing: dict[str, set[str]] = {}
    for path in (ROOT / "src" / "mercato").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top == "mercato" or top in sys.stdlib_module_names:
                    continue
                dists = {d.lower().replace("_", "-") for d in owners.get(top, [top])}
                if not dists & declared:
                    missing.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    assert not missing, f"imported but not in [project].dependencies: {missing}"


def test_the_lint_and_type_checkers_ci_runs_are_pinned() -> None:
    dev = {Requirement(r).name: Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]}
    for tool in ("ruff", "mypy"):
        specifiers = list(dev[tool].specifier)
        assert [s.operator for s in specifiers] == ["=="], f"{tool} is not pinned: {specifiers}"


def test_the_package_holds_no_emulator_and_never_imports_one() -> None:
    """The platform emulators are their own distribution (``emulators/``): a wheel of mercato
    holds none of them, and mercato works without them (``mercato demo`` loads them on demand,
    by name, and says how to install them when they are absent)."""
    package = ROOT / "src" / "mercato"
    shipped = [p.relative_to(ROOT).as_posix() for p in package.rglob("*")
               if p.name.lower().startswith("emulator")]
    assert not shipped, f"emulators belong in emulators/src/mercato_emulators: {shipped}"
    importing: list[str] = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            if any(m.split(".")[0] == "mercato_emulators" for m in modules):
                importing.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    assert not importing, (
        "mercato imports the emulators (load them with importlib where they are needed, as "
        f"mercato.core.demo_servers.load_emulator does): {importing}")
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert wheel["targets"]["wheel"]["packages"] == ["src/mercato"]


def test_the_emulators_import_nothing_of_mercato_they_do_not_declare() -> None:
    """The emulators may depend on mercato, never the reverse; what they import is declared in
    their own pyproject.toml."""
    emulators = ROOT / "emulators"
    declared = _names(tomllib.loads((emulators / "pyproject.toml").read_text())["project"]
                      ["dependencies"])
    owners = packages_distributions()
    missing: dict[str, set[str]] = {}
    for path in (emulators / "src" / "mercato_emulators").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top == "mercato_emulators" or top in sys.stdlib_module_names:
                    continue
                dists = {d.lower().replace("_", "-") for d in owners.get(top, [top])}
                if not dists & declared:
                    missing.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    assert not missing, f"imported but not in emulators/pyproject.toml: {missing}"


def test_each_shipped_plugin_is_a_distribution_declaring_its_entry_point_and_imports() -> None:
    """The plugins in ``plugins/`` are distributions of their own, found by their entry point
    (group ``mercato.plugins``) like any other; each declares what it imports (mercato
    included), and mercato imports none of them."""
    owners = packages_distributions()
    found = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    assert found == ["chat-notifier", "min-order-value"]
    for name in found:
        project = tomllib.loads((ROOT / "plugins" / name / "pyproject.toml").read_text())
        package = "mercato_plugin_" + name.replace("-", "_")
        points = project["project"]["entry-points"]["mercato.plugins"]
        assert points == {name: f"{package}:manifest"}
        declared = _names(project["project"]["dependencies"])
        assert "mercato" in declared
        for path in (ROOT / "plugins" / name / "src" / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top == package or top in sys.stdlib_module_names:
                        continue
                    dists = {d.lower().replace("_", "-") for d in owners.get(top, [top])}
                    assert dists & declared, f"{path}: {top} is not declared"
    for path in (ROOT / "src" / "mercato").rglob("*.py"):
        assert "mercato_plugin_" not in path.read_text(), f"{path} imports a plugin"
