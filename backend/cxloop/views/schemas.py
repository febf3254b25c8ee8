"""Saved views on the wire: what ``/v1/views`` accepts and answers (msgspec Structs)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec

__all__ = [
    "MAX_QUERY_BYTES",
    "MAX_QUERY_KEYS",
    "PAGES",
    "QueryValue",
    "View",
    "ViewInput",
    "ViewList",
    "ViewPage",
    "ViewPatch",
]

ViewPage = Literal["accounts", "feedback", "alerts"]
PAGES: tuple[str, ...] = get_args(ViewPage)
ViewName = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
# A query string as an object: each parameter's value, or its values when repeated.
QueryValue = str | list[str]
MAX_QUERY_BYTES = 4096
MAX_QUERY_KEYS = 30


class ViewInput(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/views``: a page's filters and sort under a name; ``shared`` shows it to the
    whole project (only its owner may change or delete it either way)."""

    name: ViewName
    # Checked by the handler: a body field named like a dependency (``page``) that fails
    # decoding would be a 500 in Litestar, not the 400 it is.
    page: Annotated[
        Any,
        msgspec.Meta(
            description="accounts, feedback or alerts",
            extra_json_schema={"extra": {"type": "string", "enum": list(PAGES)}},
        ),
    ]
    query: dict[str, QueryValue]
    shared: bool = False


class ViewPatch(msgspec.Struct, forbid_unknown_fields=True):
    """``PATCH /v1/views/{id}``: any of name, query, shared (the page stays)."""

    name: ViewName | msgspec.UnsetType = msgspec.UNSET
    query: dict[str, QueryValue] | msgspec.UnsetType = msgspec.UNSET
    shared: bool | msgspec.UnsetType = msgspec.UNSET


class View(msgspec.Struct):
    id: str
    name: str
    page: ViewPage
    query: dict[str, QueryValue]
    shared: bool
    owner_label: str
    # Whether the caller owns it (may change or delete it).
    mine: bool
    created_at: str
    updated_at: str


class ViewList(msgspec.Struct):
    views: list[View]
