"""Deleted subjects' digests: the digest, matching, refresh from PostgreSQL, the state file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.projects import SuppressionList, event_subject_ids, subject_digest


def test_digest_is_sha256_of_project_kind_and_id() -> None:
    expected = hashlib.sha256(b"prj_a\0user\0u-1").hexdigest()
    assert subject_digest("prj_a", "user", "u-1") == expected
    # Another project, or the same id as another kind, is another subject.
    assert subject_digest("prj_b", "user", "u-1") != expected
    assert subject_digest("prj_a", "anonymous", "u-1") != expected


def _list(*subjects: tuple[str, str, str]) -> SuppressionList:
    suppressions = SuppressionList()
    for project, kind, value in subjects:
        suppressions.add(project, [subject_digest(project, kind, value)])
    return suppressions


def test_matches_each_kind_of_id_in_its_own_project_only() -> None:
    suppressions = _list(("p1", "user", "u1"), ("p1", "anonymous", "a1"), ("p1", "account", "c1"))
    assert suppressions.active("p1") and not suppressions.active("p2")
    assert suppressions.matches("p1", user_id="u1")
    assert suppressions.matches("p1", anonymous_id="a1")
    assert suppressions.matches("p1", group_id="c1")
    assert suppressions.matches("p1", previous_id="a1")  # an alias from the deleted anonymous id
    assert not suppressions.matches("p1", user_id="a1")  # another kind
    assert not suppressions.matches("p1", user_id="u2", anonymous_id="a2", group_id="c2")
    assert not suppressions.matches("p2", user_id="u1")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"userId": "u1"}', (["u1"], [], [])),
        (b'{"userId": 123, "anonymousId": 4.0}', (["123"], ["4"], [])),
        (b'{"userId": "", "anonymousId": "a", "groupId": "g"}', ([], ["a"], ["g"])),
        (b'{"type": "alias", "previousId": "old"}', (["old"], ["old"], [])),
        (b'{"context": {"groupId": "c"}}', ([], [], ["c"])),
        (b'{"context": {"\\u0067roupId": "c"}, "\\u0075serId": "u"}', (["u"], [], ["c"])),
        (b'{"context": null, "groupId": "g"}', ([], [], ["g"])),
        (b'{"userId": "u", "properties": {"n": 1e400}, "context": {"n": 1e400}}', (["u"], [], [])),
        (b'{"userId": true, "context": "x"}', ([], [], [])),
        (b"[1, 2]", None),
        (b'{"userId": ', None),
    ],
)
def test_event_subject_ids_as_ingest_reads_them(raw: bytes, expected: object) -> None:
    assert event_subject_ids(raw) == expected


def test_batch_context_names_the_account() -> None:
    suppressions = _list(("p", "account", "c1"))
    assert suppressions.matches_raw("p", b'{"userId": "u"}', {"groupId": "c1"})
    assert not suppressions.matches_raw("p", b'{"userId": "u"}', {"groupId": "c2"})
    assert not suppressions.matches_raw("p", b"not json")


class FakePool:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.fail = False

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        if self.fail:
            raise OSError("connection refused")
        return self.rows


async def test_refresh_replaces_the_list_and_mirrors_digests_only(tmp_path: Path) -> None:
    path = tmp_path / "state" / "suppressions.json"
    suppressions = SuppressionList(path)
    suppressions.replace({"gone": frozenset({subject_digest("gone", "user", "x")})})
    digest = subject_digest("p", "user", "alice@example.com")
    pool = FakePool([{"project_id": "p", "digest": digest}])
    assert await suppressions.refresh(pool) == 1  # type: ignore[arg-type]
    assert suppressions.matches("p", user_id="alice@example.com")
    assert not suppressions.active("gone")
    text = path.read_text()
    assert "alice" not in text
    assert json.loads(text)["digests"] == {"p": [digest]}
    # A fresh worker (PostgreSQL down) starts from the file.
    restarted = SuppressionList(path)
    assert restarted.matches("p", user_id="alice@example.com")
    # A failed refresh raises and keeps the last list.
    pool.fail = True
    with pytest.raises(OSError):
        await restarted.refresh(pool)  # type: ignore[arg-type]
    assert restarted.matches("p", user_id="alice@example.com")


def test_unreadable_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "suppressions.json"
    path.write_text("{broken")
    assert len(SuppressionList(path)) == 0


_scalar_ids = st.one_of(
    st.sampled_from(["u1", "a1", "c1", "", "other"]),
    st.sampled_from([1, 1.0, 1.5, True, None]),
    st.just({"nested": "u1"}),
)
_context = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"groupId": _scalar_ids, "ip": st.just("1.2.3.4")}),
    st.just("not an object"),
)
_event = st.fixed_dictionaries(
    {},
    optional={
        "userId": _scalar_ids,
        "anonymousId": _scalar_ids,
        "groupId": _scalar_ids,
        "previousId": _scalar_ids,
        "context": _context,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(_event, st.just([1])), max_size=6),
    _context,
    st.sets(st.sampled_from([("user", "u1"), ("anonymous", "a1"), ("account", "c1"),
                             ("user", "1"), ("account", "1.5")])),
)  # fmt: skip
def test_one_decode_of_a_batch_agrees_with_event_by_event(
    events: list[Any], batch_context: Any, subjects: set[tuple[str, str]]
) -> None:
    suppressions = _list(*((("p", kind, value)) for kind, value in subjects))
    suppressions.add("p", [subject_digest("p", "user", "never-sent")])
    body = msgspec.json.encode({"batch": events, "context": batch_context})
    named = suppressions.named_in_batch("p", body)
    group = batch_context.get("groupId") if isinstance(batch_context, dict) else None
    expected = [
        suppressions.matches_raw("p", msgspec.json.encode(event), {"groupId": group})
        for event in events
    ]
    if named is None:  # some event or context is not an object: read event by event
        assert any(
            not isinstance(e, dict) or isinstance(e.get("context"), str) for e in events
        ) or isinstance(batch_context, str)
    else:
        assert named == expected


async def test_an_added_subject_survives_a_refresh_that_does_not_show_it_yet() -> None:
    suppressions = SuppressionList()
    now = [100.0]
    suppressions._clock = lambda: now[0]
    suppressions.add("p", [subject_digest("p", "user", "fresh")])
    await suppressions.refresh(FakePool([]))  # type: ignore[arg-type]  # not committed yet
    assert suppressions.matches("p", user_id="fresh")
    now[0] += 61  # never committed (the request failed): it goes
    await suppressions.refresh(FakePool([]))  # type: ignore[arg-type]
    assert not suppressions.active("p")
