"""docs/access.md's tables are the code's: permissions per role, and every private route's permission."""

from __future__ import annotations

import re

import msgspec
from litestar.handlers import HTTPRouteHandler

from cxloop.access import PERMISSIONS, ROLE_PERMISSIONS, ROLES
from cxloop.api.guard import is_private
from cxloop.app import create_app
from cxloop.settings import Settings
from tests.helpers.access_docs import DOC, code, documented_routes, table


def _private_routes() -> dict[tuple[str, str], str | None]:
    settings = msgspec.structs.replace(Settings(), database_url="postgresql://u@localhost/db")
    app = create_app(settings)
    routes: dict[tuple[str, str], str | None] = {}
    for route in app.routes:
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or not is_private(handler):
                continue
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                routes[(method, path)] = handler.opt.get("permission")
    return routes


def test_the_permission_table_is_the_codetable() -> None:
    rows = table("Permissions")
    header = DOC.read_text(encoding="utf-8").split("\n## Permissions\n", 1)[1]
    assert "| permission | allows | " + " | ".join(ROLES) + " |" in header
    documented = {code(row[0]): row for row in rows}
    assert [code(row[0]) for row in rows] == list(PERMISSIONS), "same permissions, same order"
    for name, row in documented.items():
        assert row[1] == PERMISSIONS[name], f"{name}: the docs say {row[1]!r}"
        assert len(row) == 2 + len(ROLES), row
        for role, cell in zip(ROLES, row[2:], strict=True):
            assert cell in {"✓", ""}, f"{name}/{role}: {cell!r} (✓ or empty)"
            has = name in ROLE_PERMISSIONS[role]
            assert (cell == "✓") == has, (
                f"{name}: the docs say {role} {'has' if cell else 'lacks'} it"
            )


def test_the_route_table_is_every_private_route_with_its_permission() -> None:
    documented = documented_routes()
    served = _private_routes()
    assert len(served) >= 37
    missing = sorted(set(served) - set(documented), key=lambda route: (route[1], route[0]))
    stale = sorted(set(documented) - set(served))
    rows = "\n".join(f"| {m} | `{p}` | `{served[(m, p)]}` |" for m, p in missing)
    assert not missing, f"private routes missing from docs/access.md's Routes table:\n{rows}"
    assert not stale, f"docs/access.md lists routes the app does not serve: {stale}"
    wrong = {
        key: (documented[key], served[key]) for key in served if documented[key] != served[key]
    }
    assert not wrong, f"documented vs declared permission: {wrong}"
    assert all(permission in PERMISSIONS for permission in documented.values())


def test_the_table_parser_reads_what_it_is_given() -> None:
    # The parser must not pass by reading nothing: both tables have every row.
    assert len(table("Permissions")) == len(PERMISSIONS)
    assert len(table("Routes")) == len(_private_routes())
