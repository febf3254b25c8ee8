"""Package boundaries: another domain is reached through its ``__init__`` and nothing else.

import-linter (``.importlinter``, run by ``make lint``) holds the layers, so no cycles; it has
no contract for "only through the package", which is what these tests hold, over the AST of
every module in ``backend/cxloop``.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import cxloop

ROOT = Path(cxloop.__file__).resolve().parent
PACKAGES = sorted(p.parent.name for p in ROOT.glob("*/__init__.py"))

# (importing module, imported module): inner modules another domain may still reach, and why.
ALLOWED_DEEP_IMPORTS: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _domain(module: str) -> str:
    """``cxloop.ingest.check`` → ``ingest``; ``cxloop.app`` → ``app``."""
    return module.split(".")[1] if "." in module else ""


def _cxloop_imports() -> Iterator[tuple[str, str, int, list[str]]]:
    """(importing module, imported module, line, names) for every cxloop import, also those
    inside functions and ``TYPE_CHECKING`` blocks."""
    for path in sorted(ROOT.rglob("*.py")):
        importer = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "cxloop" or node.module.startswith("cxloop."):
                    yield importer, node.module, node.lineno, [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("cxloop."):
                        yield importer, alias.name, node.lineno, []


def _cross_domain() -> Iterator[tuple[str, str, int, list[str]]]:
    for importer, imported, line, names in _cxloop_imports():
        if _domain(imported) and _domain(imported) != _domain(importer):
            yield importer, imported, line, names


def test_other_domains_import_a_package_only_through_its_init() -> None:
    deep = [
        f"{importer}:{line} imports {imported}"
        for importer, imported, line, _ in _cross_domain()
        if imported.count(".") >= 2 and (importer, imported) not in ALLOWED_DEEP_IMPORTS
    ]
    assert deep == [], "import these from the package instead:\n" + "\n".join(deep)


def test_the_allow_list_names_only_imports_that_exist() -> None:
    seen = {(importer, imported) for importer, imported, _, _ in _cross_domain()}
    assert set(ALLOWED_DEEP_IMPORTS) <= seen


def test_what_other_domains_import_from_a_package_is_in_its_all() -> None:
    missing = sorted(
        f"{importer}:{line} uses {imported}.{name}"
        for importer, imported, line, names in _cross_domain()
        if imported.count(".") == 1 and imported.split(".")[1] in PACKAGES
        for name in names
        if name not in importlib.import_module(imported).__all__
    )
    assert missing == [], "export these from the package's __init__:\n" + "\n".join(missing)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_declares_its_surface_and_every_name_in_it_exists(package: str) -> None:
    module = importlib.import_module(f"cxloop.{package}")
    surface = module.__all__
    assert surface, f"cxloop.{package} exports nothing"
    assert len(set(surface)) == len(surface)
    assert [name for name in surface if not hasattr(module, name)] == []


def test_the_checks_see_imports_inside_functions() -> None:
    # The supervisor imports the pipeline only inside the function that starts it.
    seen = {(importer, imported) for importer, imported, _, _ in _cross_domain()}
    assert ("cxloop.server.supervisor", "cxloop.pipeline") in seen
