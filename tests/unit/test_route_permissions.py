"""Every private route declares one permission from the shared table; public ones declare none."""

from __future__ import annotations

import msgspec
from litestar.handlers import HTTPRouteHandler

from cxloop.access import PERMISSIONS, ROLE_PERMISSIONS
from cxloop.api.guard import is_private
from cxloop.app import create_app
from cxloop.settings import Settings


def _handlers() -> list[tuple[str, str, HTTPRouteHandler]]:
    settings = msgspec.structs.replace(Settings(), database_url="postgresql://u@localhost/db")
    app = create_app(settings)
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler) and "OPTIONS" not in handler.http_methods:
                for method in sorted(handler.http_methods):
                    found.append((method, route.path, handler))
    return found


def test_every_private_route_declares_a_known_permission() -> None:
    private = [(m, p, h) for m, p, h in _handlers() if is_private(h)]
    assert len(private) >= 37
    for method, path, handler in private:
        permission = handler.opt.get("permission")
        assert permission in PERMISSIONS, f"{method} {path} declares {permission!r}"


def test_reads_never_need_write_permissions_and_writes_never_read_ones() -> None:
    for method, path, handler in _handlers():
        permission = handler.opt.get("permission")
        if permission is None:
            continue
        if method == "GET":
            assert not permission.endswith(":write"), f"{method} {path}: {permission}"
        else:
            assert not permission.endswith(":read"), f"{method} {path}: {permission}"


def test_roles_are_nested_and_viewers_only_read() -> None:
    viewer, analyst = ROLE_PERMISSIONS["viewer"], ROLE_PERMISSIONS["analyst"]
    admin, owner = ROLE_PERMISSIONS["admin"], ROLE_PERMISSIONS["owner"]
    assert viewer < analyst < admin < owner
    assert owner == frozenset(PERMISSIONS)
    # tokens:own lets a viewer manage their own tokens (limited to their role); nothing else
    assert {p for p in viewer if not p.endswith(":read")} == {"tokens:own"}
