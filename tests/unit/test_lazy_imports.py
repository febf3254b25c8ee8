"""Lazy package names (``cxloop.lazy``, decision 59): the pipeline imports no web framework, and
every name a package exports still resolves — to the object its ``TYPE_CHECKING`` import names.

The import checks run in a fresh interpreter: this process has long since imported the app.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import cxloop
from cxloop.lazy import lazy_exports

ROOT = Path(cxloop.__file__).resolve().parent
PACKAGES = sorted(p.parent.name for p in ROOT.glob("*/__init__.py"))


def _run(code: str) -> object:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _type_checking_imports(package: str) -> dict[str, str]:
    """name -> module for the imports under ``if TYPE_CHECKING:`` in a package's ``__init__``."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                assert isinstance(imp, ast.ImportFrom) and imp.module, ast.unparse(imp)
                names.update((alias.asname or alias.name, imp.module) for alias in imp.names)
    return names


LAZY = {package: _type_checking_imports(package) for package in PACKAGES}


def test_the_pipeline_imports_no_web_framework_api_or_password_hashing() -> None:
    loaded = _run(
        "import sys, json\n"
        "import cxloop.pipeline\n"
        "heavy = ('litestar', 'argon2', 'uvicorn', 'polyfactory', 'faker')\n"
        "http = ('controller', '_cli', '.cli', '.asgi', '.compat', '.openapi', '.routes')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "    or m.startswith('cxloop.') and (m.split('.')[1] == 'api' or m.endswith(http))\n"
        "    and m != 'cxloop.db.cli')))\n"
    )
    # cxloop.db.cli (the database options every command shares) stays: click and rich come
    # with httpx anyway (its own command line), which webhook delivery needs.
    assert loaded == []


def test_the_checks_below_see_the_lazy_names() -> None:
    # The parametrised tests cover only packages where the AST found lazy names.
    lazy = {package for package, names in LAZY.items() if names}
    domains = {"access", "alerts", "db", "health", "ingest", "insights", "ops", "privacy"}
    assert domains | {"projects", "surveys", "webhooks"} <= lazy
    assert LAZY["ingest"]["IngestFront"] == "cxloop.ingest.asgi"


@pytest.mark.parametrize("package", [p for p in PACKAGES if LAZY[p]])
def test_each_lazy_name_resolves_to_the_object_its_module_defines(package: str) -> None:
    # A misspelt name or module in a map fails here, in a process that has not loaded it yet.
    names = LAZY[package]
    result = _run(
        "import importlib, json\n"
        f"package = importlib.import_module('cxloop.{package}')\n"
        f"names = {names!r}\n"
        "before = sorted(n for n in names if n in vars(package))\n"
        "same = sorted(n for n, m in names.items()\n"
        "              if getattr(package, n) is getattr(importlib.import_module(m), n))\n"
        "cached = sorted(n for n in names if n in vars(package))\n"
        "print(json.dumps([before, same, cached, sorted(package.__all__)]))\n"
    )
    assert isinstance(result, list)
    before, same, cached, surface = result
    assert before == [], "loaded with the package, not lazily"
    assert same == sorted(names)
    assert cached == sorted(names)
    assert set(names) <= set(surface), "a lazy name another domain cannot import"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves_in_a_fresh_process(package: str) -> None:
    missing = _run(
        "import importlib, json\n"
        f"package = importlib.import_module('cxloop.{package}')\n"
        "print(json.dumps([n for n in package.__all__ if not hasattr(package, n)]))\n"
    )
    assert missing == []


@pytest.mark.parametrize("package", [p for p in PACKAGES if LAZY[p]])
def test_an_unknown_name_is_an_attribute_error(package: str) -> None:
    module = __import__(f"cxloop.{package}", fromlist=["__all__"])
    with pytest.raises(AttributeError, match=f"'cxloop.{package}' has no attribute 'no_such'"):
        module.no_such  # noqa: B018
    assert not hasattr(module, "no_such")


def test_the_insights_group_has_every_slices_commands_when_first_used() -> None:
    modules = _run(
        "import json, cxloop.insights\n"
        "group = cxloop.insights.insights_group\n"
        "print(json.dumps(sorted({c.callback.__module__ for c in group.commands.values()})))\n"
    )
    assert modules == [
        "cxloop.insights.drivers_cli",
        "cxloop.insights.ratings_cli",
        "cxloop.insights.text_cli",
    ]


def _package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    (tmp_path / "hl_defines.py").write_text(
        "import hl_log\nhl_log.order.append('defines')\nvalue = object()\n"
    )
    (tmp_path / "hl_registers.py").write_text("import hl_log\nhl_log.order.append('registers')\n")
    (tmp_path / "hl_log.py").write_text("order = []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("hl_log", "hl_defines", "hl_registers", "hl_package"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    package = types.ModuleType("hl_package")
    monkeypatch.setitem(sys.modules, "hl_package", package)
    return package


def test_lazy_exports_imports_companions_first_and_keeps_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = _package(tmp_path, monkeypatch)
    package.__getattr__ = lazy_exports(  # type: ignore[method-assign]
        "hl_package", {"value": "hl_defines"}, imported_with={"value": ("hl_registers",)}
    )
    value = package.value
    assert value is sys.modules["hl_defines"].value
    assert sys.modules["hl_log"].order == ["registers", "defines"]
    assert vars(package)["value"] is value
    with pytest.raises(AttributeError, match="'hl_package' has no attribute 'other'"):
        package.other  # noqa: B018


def test_lazy_exports_refuses_companions_for_a_name_it_does_not_export() -> None:
    with pytest.raises(ValueError, match=r"imported_with names unknown lazy names \['valu'\]"):
        lazy_exports("hl_package", {"value": "hl_defines"}, imported_with={"valu": ("x",)})
