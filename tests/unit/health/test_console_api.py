"""Pure pieces of the console's API: LIKE escaping, the trait filter, cursors per sort, the
activity's week alignment, saved views' query limits, the roles' view permissions."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cxloop.access import role_permissions
from cxloop.api import ApiError, Cursor, PageRequest
from cxloop.health.controller import _after, _cursor_key, _filters
from cxloop.health.portfolio import account_activity
from cxloop.health.store import SORTS, AccountFilter, like_pattern
from cxloop.views.controller import _checked_page, _checked_query


@pytest.mark.parametrize(
    ("text", "pattern"),
    [("acme", "%acme%"), ("100%", "%100\\%%"), ("a_b", "%a\\_b%"), ("c:\\x", "%c:\\\\x%")],
)
def test_like_pattern_escapes_wildcards_and_the_escape(text: str, pattern: str) -> None:
    assert like_pattern(text) == pattern


def test_trait_filters_split_on_the_first_colon_and_refuse_malformed_ones() -> None:
    filters = _filters(["red"], None, None, None, None, None, None, ["url:https://x", "a:"])
    assert filters.traits == (("url", "https://x"), ("a", ""))
    assert filters.bands == ("red",)
    assert _filters(None, None, None, None, None, None, None, None) == AccountFilter()
    for bad in ("region", ":emea", "  :x"):
        with pytest.raises(ApiError) as refused:
            _filters(None, None, None, None, None, None, None, [bad])
        assert refused.value.code == "invalid_trait_filter"


def test_cursors_carry_each_sorts_value_and_refuse_another_sorts() -> None:
    row = {"sort_key": date(2027, 1, 31), "account_id": "a1"}
    encoded = Cursor.encode(_cursor_key(row))
    assert _after(PageRequest(10, encoded), "renewal") == (date(2027, 1, 31), "a1")
    assert _after(PageRequest(10, Cursor.encode([None, "a9"])), "-mrr") == (None, "a9")
    assert _after(PageRequest(10, Cursor.encode([3, "a2"])), "score") == (3.0, "a2")
    for sort, values in (("renewal", [1.5, "a"]), ("renewal", ["soon", "a"]),
                         ("score", ["x", "a"]), ("name", [1, "a"])):  # fmt: skip
        with pytest.raises(ApiError) as refused:
            _after(PageRequest(10, Cursor.encode(values)), sort)  # type: ignore[arg-type]
        assert refused.value.code == "invalid_cursor"
    assert set(SORTS) == {s for f in ("score", "change", "mrr", "renewal", "name")
                          for s in (f, f"-{f}")}  # fmt: skip


def test_activity_without_rollups_is_aligned_zeros(tmp_path: Path) -> None:
    activity = account_activity(tmp_path, "prj_x", "a1", 3, 7, date(2026, 12, 6))  # a Sunday
    assert [w.week for w in activity.weeks] == ["2026-11-16", "2026-11-23", "2026-11-30"]
    assert all(w.active_users == 0 and w.events == 0 and w.seats == 7 for w in activity.weeks)
    assert activity.features == []


def test_saved_view_queries_are_bounded() -> None:
    assert _checked_query({"band": ["red", "yellow"], "q": "acme"}) == {
        "band": ["red", "yellow"],
        "q": "acme",
    }
    queries: list[dict[str, str | list[str]]] = [
        {f"k{i}": "v" for i in range(31)},
        {"q": "x" * 5000},
        {"": "x"},
        {"q": "a\x00"},
        {"band": ["\x00"]},
    ]
    for query in queries:
        with pytest.raises(ApiError) as refused:
            _checked_query(query)
        assert refused.value.code == "invalid_view"
    assert _checked_page("alerts") == "alerts"
    pages: list[object] = ["surveys", {}, None, 3]
    for page in pages:
        with pytest.raises(ApiError):
            _checked_page(page)


def test_viewers_read_views_and_analysts_write_them() -> None:
    assert "views:read" in role_permissions("viewer")
    assert "views:write" not in role_permissions("viewer")
    for role in ("analyst", "admin", "owner"):
        assert {"views:read", "views:write"} <= role_permissions(role)
