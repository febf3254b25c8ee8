"""docs/access.md's tables are the code's: permissions per role, and every private route's permission."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
from litestar.handlers import HTTPRouteHandler

from cxloop.access import PERMISSIONS, ROLE_PERMISSIONS, ROLES
from cxloop.api.guard import is_private
from cxloop.app import create_app
from cxloop.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "access.md"


def _table(heading: str) -> list[list[str]]:
    """The cells of the first table under ``## heading`` (header and separator rows dropped)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    start = next(i for i, line in enumerate(lines) if set(line) <= set("|- "))
    rows = []
    for line in lines[start + 1 :]:
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _code(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected a `code` cell, got {cell!r}"
    return match.group(1)


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


def test_the_permission_table_is_the_code_table() -> None:
    rows = _table("Permissions")
    header = DOC.read_text(encoding="utf-8").split("\n## Permissions\n", 1)[1]
    assert "| permission | allows | " + " | ".join(ROLES) + " |" in header
    documented = {_code(row[0]): row for row in rows}
    assert [_code(row[0]) for row in rows] == list(PERMISSIONS), "same permissions, same order"
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
    documented = {(row[0], _code(row[1])): _code(row[2]) for row in _table("Routes")}
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
    assert len(_table("Permissions")) == len(PERMISSIONS)
    assert len(_table("Routes")) == len(_private_routes())
