"""The dedupe index: segment ownership, namespaces, durability, expiry, one writer."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.lake import Claim, DedupeIndex, DedupeIndexBusy, DedupeKey, DedupeStats
from cxloop.lake import dedupe as dedupe_module

DAY = date(2026, 11, 23)


def ev(message_id: str, project_id: str = "p1") -> DedupeKey:
    return ("e", project_id, message_id)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[DedupeIndex]:
    with DedupeIndex(tmp_path / "dedupe.sqlite") as opened:
        yield opened


def test_new_keys_are_owned_and_keys_of_earlier_segments_are_duplicates(
    index: DedupeIndex,
) -> None:
    assert index.claim("s1", [ev("a"), ev("b")]) == [True, True]
    assert index.claim("s2", [ev("b"), ev("c")]) == [False, True]


def test_within_a_segment_only_the_first_occurrence_owns(index: DedupeIndex) -> None:
    assert index.claim("s1", [ev("a"), ev("b"), ev("a"), ev("a")]) == [True, True, False, False]


def test_a_recompacted_segment_gets_the_same_answer(index: DedupeIndex) -> None:
    first = index.claim("s1", [ev("a"), ev("b"), ev("a")])
    index.claim("s2", [ev("b"), ev("c")])
    again = index.claim("s1", [ev("a"), ev("b"), ev("a")])
    assert again == first == [True, True, False]
    assert index.claim("s2", [ev("b"), ev("c")]) == [False, True]


@pytest.mark.parametrize(
    ("first", "second", "duplicate"),
    [
        (("e", "p1", "m"), ("e", "p1", "m"), True),
        (("e", "p1", "m"), ("e", "p2", "m"), False),  # another project
        (("e", "p1", "m"), ("f", "p1", "m"), False),  # a failed event is its own namespace
        (("f", "p1", "m"), ("f", "p1", "m"), True),
        (("e", "p1", "m"), ("e", "p1", "M"), False),  # exact, case-sensitive
    ],
)
def test_namespaces(
    index: DedupeIndex, first: DedupeKey, second: DedupeKey, duplicate: bool
) -> None:
    index.claim("s1", [first])
    assert index.claim("s2", [second]) == [not duplicate]


@pytest.mark.parametrize(
    "message_id",
    ["", " ", 'quote"d', "back\\slash", "ünïcødé", "emoji 😀", "tab\tnew\nline", "x" * 2000],
)
def test_message_ids_are_compared_exactly(index: DedupeIndex, message_id: str) -> None:
    assert index.claim("s1", [ev(message_id), ev(message_id + "!")]) == [True, True]
    assert index.claim("s2", [ev(message_id)]) == [False]
    assert index.owned("s1", [ev(message_id), ev(message_id + "!")]) == [True, True]


def test_owned_is_read_only_and_answers_like_claim(index: DedupeIndex) -> None:
    keys = [ev("a"), ev("b"), ev("a"), ev("c", "p2")]
    index.claim("s0", [ev("b")])
    claimed = index.claim("s1", keys)
    assert index.owned("s1", keys) == claimed == [True, False, False, True]
    assert index.owned("s0", keys) == [False, True, False, False]
    assert index.owned("s1", [ev("a", "unknown-project")]) == [False]
    assert index.stats().keys == 3


def test_empty_claim(index: DedupeIndex) -> None:
    assert index.claim("s1", []) == []
    assert index.owned("s1", []) == []


def test_a_failed_claim_leaves_nothing_behind(
    index: DedupeIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [ev("a", "p1"), ev("b", "p2")]
    calls = 0
    original = DedupeIndex._create_namespace

    def crash_on_second(self: DedupeIndex, namespace: tuple[str, str]) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk full")
        return original(self, namespace)

    monkeypatch.setattr(DedupeIndex, "_create_namespace", crash_on_second)
    with pytest.raises(OSError, match="disk full"):
        index.claim("s1", keys)
    assert index.stats() == DedupeStats(keys=0, segments=0, namespaces=0)
    monkeypatch.undo()
    assert index.claim("s1", keys) == [True, True]


def test_claims_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state" / "dedupe.sqlite"
    with DedupeIndex(path) as index:
        index.claim("s1", [ev("a"), ev("b", "p2")])
    with DedupeIndex(path) as index:
        assert index.claim("s2", [ev("a"), ev("b", "p2"), ev("c")]) == [False, False, True]
        assert index.claim("s1", [ev("a"), ev("b", "p2")]) == [True, True]


def test_one_writer_at_a_time_and_read_only_readers(tmp_path: Path) -> None:
    path = tmp_path / "dedupe.sqlite"
    with DedupeIndex(path) as writer:
        writer.claim("s1", [ev("a")])
        with pytest.raises(DedupeIndexBusy, match="one cxloop pipeline per data directory"):
            DedupeIndex(path)
        with DedupeIndex(path, readonly=True) as reader:
            assert reader.owned("s1", [ev("a"), ev("b")]) == [True, False]
            with pytest.raises(PermissionError):
                reader.claim("s2", [ev("b")])
    with DedupeIndex(path) as writer:  # the lock went with the first writer
        assert writer.claim("s2", [ev("a")]) == [False]


def test_settled_keys_keep_their_owners(index: DedupeIndex) -> None:
    index.claim("s1", [ev("a"), ev("b")])
    assert index.settle() == 2
    assert index.settle() == 0
    assert index.claim("s2", [ev("b"), ev("c")]) == [False, True]
    assert index.claim("s1", [ev("a"), ev("b")]) == [True, True]  # recompaction after settling
    assert index.owned("s1", [ev("a"), ev("b"), ev("c")]) == [True, True, False]
    assert index.owned("s2", [ev("a"), ev("b"), ev("c")]) == [False, False, True]
    assert index.stats().keys == 3


def test_a_crash_half_way_through_settling_changes_no_answer(
    index: DedupeIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.claim("s1", [ev("a"), ev("b")])
    monkeypatch.setattr(dedupe_module, "_EMPTY_RECENT", "SELECT 1")  # copied, not emptied
    index.settle()
    monkeypatch.undo()
    assert index.claim("s2", [ev("a"), ev("c")]) == [False, True]
    assert index.claim("s1", [ev("a"), ev("b")]) == [True, True]
    assert index.owned("s1", [ev("a"), ev("b"), ev("c")]) == [True, True, False]
    index.settle()  # the retry
    assert index.stats().keys == 3
    assert index.claim("s3", [ev("a"), ev("b"), ev("c"), ev("d")]) == [False, False, False, True]


def test_recent_keys_settle_when_many_and_daily(tmp_path: Path) -> None:
    with DedupeIndex(tmp_path / "dedupe.sqlite", settle_keys=3) as index:
        index.claim("s1", [ev("a"), ev("b")], received_day=DAY)
        index.expire(_at_noon(DAY))
        assert index._meta("recent_keys", 0) == 2  # same day, below the threshold: stays
        index.claim("s2", [ev("c")], received_day=DAY)
        index.claim("s3", [ev("c")], received_day=DAY)  # three keys: settles first
        assert index._meta("recent_keys", 0) == 0
        index.claim("s4", [ev("d")], received_day=DAY)
        index.expire(_at_noon(DAY))
        assert index._meta("recent_keys", 0) == 1
        index.expire(_at_noon(DAY + timedelta(days=1)))
        assert index._meta("recent_keys", 0) == 0  # a new day: settled
        assert index.claim("s5", [ev("a"), ev("d"), ev("e")]) == [False, False, True]


def test_the_window_is_at_least_a_week(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 7 days"):
        DedupeIndex(tmp_path / "dedupe.sqlite", window_days=6)


def _at_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def test_expire_forgets_segments_received_before_the_window(index: DedupeIndex) -> None:
    window = index.window_days
    old, edge = DAY - timedelta(days=window + 1), DAY - timedelta(days=window)
    index.claim("old", [ev("a"), ev("b")], received_day=old)
    index.claim("edge", [ev("c")], received_day=edge)
    index.claim("today", [ev("d")], received_day=DAY)
    assert index.expire(_at_noon(DAY)) == 2
    assert index.stats().keys == 2
    assert index.stats().segments == 2
    # Forgotten: a replay of "a" now is new; "c" (exactly window days old) is still known.
    assert index.claim("later", [ev("a"), ev("c"), ev("d")], received_day=DAY) == [
        True,
        False,
        False,
    ]
    assert index.expire(_at_noon(DAY)) == 0


def test_expire_works_in_chunks(index: DedupeIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedupe_module, "_CHUNK_KEYS", 3)
    old = DAY - timedelta(days=30)
    for n in range(6):
        day = old if n % 2 else DAY
        keys = [ev(f"m{n}-{i}", f"p{i % 3}") for i in range(7)] + [("f", "p1", f"m{n}")]
        index.claim(f"s{n}", keys, received_day=day)
    assert index.expire(_at_noon(DAY)) == 3 * 8
    assert index.stats().keys == 3 * 8
    assert index.owned("s0", [ev("m0-0", "p0")]) == [True]


def test_owned_is_conservative_when_the_index_cannot_know(index: DedupeIndex) -> None:
    # A compacted segment waiting longer than the window for projection (PostgreSQL was
    # down), or an index that was reset, must not lose its events: first occurrences count.
    old = DAY - timedelta(days=20)
    index.claim("other", [ev("a")], received_day=old)
    index.claim("late", [ev("a"), ev("b")], received_day=old)
    index.claim("recent", [ev("a"), ev("c")], received_day=DAY)
    assert index.owned("late", [ev("a"), ev("b")]) == [False, True]
    index.expire(_at_noon(DAY))
    assert index.owned("late", [ev("a"), ev("b"), ev("b")]) == [True, True, False]
    assert index.owned("never-seen", [ev("a"), ev("a")]) == [True, False]
    # A segment within the window keeps the answer its claim got.
    assert index.owned("recent", [ev("a"), ev("c")]) == [False, True]


keys_strategy = st.lists(
    st.tuples(st.sampled_from("ef"), st.sampled_from(["p1", "p2"]), st.sampled_from("abcdef")),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(
    claims=st.lists(st.tuples(st.integers(0, 4), keys_strategy, st.booleans()), max_size=10),
    batch_sizes=st.lists(st.integers(1, 4), min_size=10, max_size=10),
    chunk_keys=st.integers(1, 4),
)
def test_claims_match_a_model(
    claims: list[tuple[int, list[DedupeKey], bool]], batch_sizes: list[int], chunk_keys: int
) -> None:
    """Random claims, re-claims and repeats, one by one or batched with claim_many, with the
    recent keys settled at random points, answer like a dict of first owners."""
    owners: dict[DedupeKey, str] = {}
    expected: list[list[bool]] = []
    for number, keys, _ in claims:
        segment = f"s{number}"
        seen: set[DedupeKey] = set()
        mask = []
        for key in keys:
            owner = owners.setdefault(key, segment)
            mask.append(owner == segment and key not in seen)
            seen.add(key)
        expected.append(mask)
    pending = list(claims)
    with (
        tempfile.TemporaryDirectory() as directory,
        DedupeIndex(Path(directory) / "d") as index,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        monkeypatch.setattr(dedupe_module, "_CHUNK_KEYS", chunk_keys)
        answers: list[list[bool]] = []
        for size in batch_sizes:
            if not pending:
                break
            batch, pending = pending[:size], pending[size:]
            if size == 1:
                answers.append(index.claim(f"s{batch[0][0]}", batch[0][1]))
            else:
                answers += index.claim_many([Claim(f"s{n}", keys) for n, keys, _ in batch])
            if batch[-1][2]:
                index.settle()
        assert answers == expected
        for (number, keys, _), mask in zip(claims, expected, strict=True):
            assert index.owned(f"s{number}", keys) == mask
        assert index.stats().keys == len(owners)
