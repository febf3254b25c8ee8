"""Package names that load on first use.

A domain's ``__init__`` is its public surface, but importing a package must not import every
toolkit behind it: the pipeline needs ``cxloop.ingest.events_table``, not the ASGI front and
Litestar. A package lists those names under ``if TYPE_CHECKING:`` (for mypy and readers) and
resolves them with ``__getattr__ = lazy_exports(__name__, {...})`` (decision 59).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str,
    names: Mapping[str, str],
    *,
    imported_with: Mapping[str, Sequence[str]] | None = None,
) -> Callable[[str], object]:
    """The module ``__getattr__`` of ``package`` that loads each of ``names`` (name -> module
    that defines it) when first asked for and keeps it in the package's namespace, so the
    next lookup is an ordinary attribute.

    ``imported_with`` names modules to import before a name is resolved: the modules that
    register commands on a click group, say, so the group is whole when first used.
    """
    companions = dict(imported_with or {})
    if unknown := sorted(set(companions) - set(names)):
        raise ValueError(f"{package}: imported_with names unknown lazy names {unknown}")
    lazy = dict(names)

    def __getattr__(name: str) -> object:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        for companion in companions.get(name, ()):
            importlib.import_module(companion)
        value = getattr(importlib.import_module(module), name)
        vars(sys.modules[package])[name] = value
        return value

    return __getattr__
