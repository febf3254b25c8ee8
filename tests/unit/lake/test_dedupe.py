"""The dedupe index: segment ownership, namespaces, durability, expiry, the budget, one writer."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxloop.lake import Claim, DedupeIndex, DedupeIndexBusy, DedupeKey, KeyBatch
from cxloop.lake import dedupe as dedupe_module
from cxloop.lake.fingerprint import Fingerprints

DAY = date(2026, 11, 23)


def ev(message_id: str, project_id: str = "p1") -> DedupeKey:
    return ("e", project_id, message_id)


def claim(index: DedupeIndex, segment: str, keys: list[DedupeKey], **kw: date) -> list[bool]:
    return index.claim(segment, keys, **kw).tolist()


def owned(index: DedupeIndex, segment: str, keys: list[DedupeKey]) -> list[bool]:
    return index.owned(segment, keys).tolist()


def run_files(index: DedupeIndex) -> list[Path]:
    return sorted(p for p in index.path.glob("*/*") if not p.name.startswith("."))


def _at_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[DedupeIndex]:
    with DedupeIndex(tmp_path / "dedupe") as opened:
        yield opened


def test_new_keys_are_owned_and_keys_of_earlier_segments_are_duplicates(
    index: DedupeIndex,
) -> None:
    assert claim(index, "s1", [ev("a"), ev("b")]) == [True, True]
    assert claim(index, "s2", [ev("b"), ev("c")]) == [False, True]


def test_within_a_segment_only_the_first_occurrence_owns(index: DedupeIndex) -> None:
    keys = [ev("a"), ev("b"), ev("a"), ev("a"), ev("b")]
    assert claim(index, "s1", keys) == [True, True, False, False, False]


def test_a_recompacted_segment_gets_the_same_answer(index: DedupeIndex) -> None:
    first = claim(index, "s1", [ev("a"), ev("b"), ev("a")])
    claim(index, "s2", [ev("b"), ev("c")])
    again = claim(index, "s1", [ev("a"), ev("b"), ev("a")])
    assert again == first == [True, True, False]
    assert claim(index, "s2", [ev("b"), ev("c")]) == [False, True]


@pytest.mark.parametrize(
    ("first", "second", "duplicate"),
    [
        (("e", "p1", "m"), ("e", "p1", "m"), True),
        (("e", "p1", "m"), ("e", "p2", "m"), False),  # another project
        (("e", "p1", "m"), ("f", "p1", "m"), False),  # a failed event is its own namespace
        (("f", "p1", "m"), ("f", "p1", "m"), True),
        (("e", "p1", "m"), ("e", "p1", "M"), False),  # exact, case-sensitive
        (("e", "p1", "m2"), ("e", "p1m", "2"), False),  # no ambiguity at the seams
    ],
)
def test_namespaces(
    index: DedupeIndex, first: DedupeKey, second: DedupeKey, duplicate: bool
) -> None:
    claim(index, "s1", [first])
    assert claim(index, "s2", [second]) == [not duplicate]


@pytest.mark.parametrize(
    "message_id",
    ["", " ", 'quote"d', "back\\slash", "ünïcødé", "emoji 😀", "tab\tnew\nline", "x" * 2000],
)
def test_message_ids_are_compared_exactly(index: DedupeIndex, message_id: str) -> None:
    assert claim(index, "s1", [ev(message_id), ev(message_id + "!")]) == [True, True]
    assert claim(index, "s2", [ev(message_id)]) == [False]
    assert owned(index, "s1", [ev(message_id), ev(message_id + "!")]) == [True, True]


def test_owned_is_read_only_and_answers_like_claim(index: DedupeIndex) -> None:
    keys = [ev("a"), ev("b"), ev("a"), ev("c", "p2")]
    claim(index, "s0", [ev("b")])
    claimed = claim(index, "s1", keys)
    assert owned(index, "s1", keys) == claimed == [True, False, False, True]
    assert owned(index, "s0", keys) == [False, True, False, False]
    assert owned(index, "s1", [ev("a", "unknown-project")]) == [False]
    assert index.stats().keys == 3


def test_columns_are_accepted_as_keys(index: DedupeIndex) -> None:
    table = pa.table(
        {
            "message_id": ["a", "a", "b"],
            "project_id": ["p1", "p1", "p1"],
            "failure_reason": [None, "bad", None],
        }
    )
    assert index.claim("s1", KeyBatch.from_table(table)).tolist() == [True, True, True]
    assert claim(index, "s2", [ev("a"), ("f", "p1", "a"), ev("b"), ev("c")]) == [
        False,
        False,
        False,
        True,
    ]


def test_empty_claim(index: DedupeIndex) -> None:
    assert claim(index, "s1", []) == []
    assert owned(index, "s1", []) == []
    assert index.stats().segments == 1  # known: owns nothing


def test_bad_segment_ids_are_refused(index: DedupeIndex) -> None:
    for bad in ("", "../x", "a/b", ".hidden", "merged-1"):
        with pytest.raises(ValueError, match="cannot name a dedupe run"):
            index.claim(bad, [ev("a")])


def test_keys_take_twelve_bytes_on_disk(index: DedupeIndex) -> None:
    for n in range(3):
        keys = [ev(f"m{i}", f"p{i % 5}") for i in range(n * 7_000, (n + 1) * 7_000)]
        index.claim(f"s{n}", keys + keys[:100], received_day=DAY + timedelta(days=n))
    files = run_files(index)
    assert len(files) == 3
    assert sum(f.stat().st_size for f in files) == 12 * 21_000
    assert index.stats().bytes == 12 * 21_000
    assert index.stats().keys == 21_000


# -- crashes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["write", "fsync", "replace", "fsync_dir", "unlink_old"])
def test_a_claim_cut_short_at_any_step_is_answered_the_same_on_retry(
    tmp_path: Path, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash inside a claim (also one that moves a segment's run to a newer day), restart,
    claim again: the same mask as without the crash, and no key lost or owned twice."""
    path = tmp_path / "dedupe"
    first = [ev("a"), ev("b"), ev("a"), ev("c")]
    with DedupeIndex(path) as index:
        assert claim(index, "s0", [ev("b")], received_day=DAY) == [True]
        claim(index, "s1", [ev("a")], received_day=DAY)  # s1's first attempt, an older day
        real = {
            "write": (dedupe_module.PacedFile, "write"),  # runs are written through it
            "fsync": (os, "fsync"),
            "replace": (os, "replace"),
            "fsync_dir": (dedupe_module, "fsync_dir"),
            "unlink_old": (Path, "unlink"),
        }[step]

        def crash(*args: object, **kwargs: object) -> object:
            raise OSError(f"crash at {step}")

        monkeypatch.setattr(*real, crash)
        with pytest.raises(OSError, match="crash at"):
            index.claim("s1", first, received_day=DAY + timedelta(days=1))
        monkeypatch.undo()
    with DedupeIndex(path) as index:  # a restart
        assert claim(index, "s1", first, received_day=DAY + timedelta(days=1)) == [
            True,
            False,
            False,
            True,
        ]
        assert owned(index, "s1", first) == [True, False, False, True]
        assert claim(index, "s2", [ev("a"), ev("b"), ev("c"), ev("d")]) == [
            False,
            False,
            False,
            True,
        ]
        assert index.stats().keys == 4  # a, b, c, d: each held once
        assert index.stats().segments == 3
        assert not list(path.glob("*/.*"))  # no temp file left


def test_claims_and_ownership_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state" / "dedupe"
    with DedupeIndex(path) as index:
        claim(index, "s1", [ev("a"), ev("b", "p2")])
        claim(index, "s0", [ev("x"), ev("a")])
    with DedupeIndex(path) as index:
        assert owned(index, "s1", [ev("a"), ev("b", "p2")]) == [True, True]
        assert owned(index, "s0", [ev("x"), ev("a")]) == [True, False]
        assert claim(index, "s2", [ev("a"), ev("b", "p2"), ev("c")]) == [False, False, True]
        assert claim(index, "s1", [ev("a"), ev("b", "p2")]) == [True, True]


def test_one_writer_at_a_time_and_read_only_readers(tmp_path: Path) -> None:
    path = tmp_path / "dedupe"
    with DedupeIndex(path) as writer:
        claim(writer, "s1", [ev("a")])
        with pytest.raises(DedupeIndexBusy, match="one cxloop pipeline per data directory"):
            DedupeIndex(path)
        with DedupeIndex(path, readonly=True) as reader:
            assert owned(reader, "s1", [ev("a"), ev("b")]) == [True, False]
            claim(writer, "s3", [ev("b")])
            assert owned(reader, "s3", [ev("a"), ev("b")]) == [False, True]  # sees new runs
            with pytest.raises(PermissionError):
                reader.claim("s2", [ev("b")])
    with DedupeIndex(path) as writer:  # the lock went with the first writer
        assert claim(writer, "s2", [ev("a")]) == [False]


def test_the_sqlite_location_means_the_directory_beside_it(tmp_path: Path) -> None:
    with DedupeIndex(tmp_path / "dedupe.sqlite") as index:
        claim(index, "s1", [ev("a")])
        assert index.path == tmp_path / "dedupe"
    with DedupeIndex(tmp_path / "dedupe") as index:
        assert claim(index, "s2", [ev("a")]) == [False]


def test_the_window_is_at_least_a_week(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 7 days"):
        DedupeIndex(tmp_path / "dedupe", window_days=6)


# -- expiry, release and merging -------------------------------------------------------------


def test_expire_forgets_days_received_before_the_window(index: DedupeIndex) -> None:
    window = index.window_days
    old, edge = DAY - timedelta(days=window + 1), DAY - timedelta(days=window)
    claim(index, "old", [ev("a"), ev("b")], received_day=old)
    claim(index, "edge", [ev("c")], received_day=edge)
    claim(index, "today", [ev("d")], received_day=DAY)
    assert index.expire(_at_noon(DAY)) == 2
    assert index.stats().keys == 2
    assert index.stats().segments == 2
    assert not (index.path / old.isoformat()).exists()
    # Forgotten: a replay of "a" now is new; "c" (exactly window days old) is still known.
    assert claim(index, "later", [ev("a"), ev("c"), ev("d")], received_day=DAY) == [
        True,
        False,
        False,
    ]
    assert index.expire(_at_noon(DAY)) == 0


def test_a_reclaim_on_a_newer_day_moves_the_segment_to_that_day(index: DedupeIndex) -> None:
    claim(index, "s1", [ev("a")], received_day=DAY - timedelta(days=9))
    assert claim(index, "s1", [ev("a"), ev("b")], received_day=DAY) == [True, True]
    assert index.expire(_at_noon(DAY)) == 0  # its keys now live on DAY
    assert claim(index, "s2", [ev("a"), ev("b")]) == [False, False]


def test_owned_is_conservative_when_the_index_cannot_know(index: DedupeIndex) -> None:
    # A compacted segment waiting longer than the window for projection (PostgreSQL was
    # down), or an index that was reset, must not lose its events: first occurrences count.
    old = DAY - timedelta(days=20)
    claim(index, "other", [ev("a")], received_day=old)
    claim(index, "late", [ev("a"), ev("b")], received_day=old)
    claim(index, "recent", [ev("a"), ev("c")], received_day=DAY)
    assert owned(index, "late", [ev("a"), ev("b")]) == [False, True]
    index.expire(_at_noon(DAY))
    assert owned(index, "late", [ev("a"), ev("b"), ev("b")]) == [True, True, False]
    assert owned(index, "never-seen", [ev("a"), ev("a")]) == [True, False]
    # A segment within the window keeps the answer its claim got.
    assert owned(index, "recent", [ev("a"), ev("c")]) == [False, True]


def test_released_runs_are_merged_per_day_and_still_dedupe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedupe_module, "_MERGE_CHUNK", 5)  # many steps of the streaming merge
    with DedupeIndex(tmp_path / "dedupe", merge_runs=4) as index:
        for n in range(10):
            keys = [ev(f"m{n}-{i}", f"p{i % 2}") for i in range(9)]
            index.claim(f"s{n}", keys, received_day=DAY)
            index.release(f"s{n}")
        stats = index.stats()
        assert stats.keys == 90
        assert stats.runs < 4  # merged as they came
        assert stats.bytes == 12 * 90
        everything = [ev(f"m{n}-{i}", f"p{i % 2}") for n in range(10) for i in range(9)]
        assert not index.claim("new", [*everything, ev("fresh")], received_day=DAY)[:-1].any()
        # Released: nobody asks again, and the index no longer knows the owner.
        assert owned(index, "s1", [ev("m0-0", "p0")]) == [True]
        # Past days merge into one run at expiry.
        index.release("new")
        index.expire(_at_noon(DAY + timedelta(days=1)))
        assert index.stats().runs == 1
        assert index.stats().keys == 91


def test_a_merge_cut_short_loses_nothing_and_is_tidied_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "dedupe"
    with DedupeIndex(path, merge_runs=3) as index:
        index.claim("s0", [ev("a"), ev("b")], received_day=DAY)
        index.release("s0")
        index.claim("s1", [ev("c")], received_day=DAY)
        index.release("s1")
        index.claim("s2", [ev("d")], received_day=DAY)
        forget = DedupeIndex._forget
        calls = 0

        def crash_on_second(self: DedupeIndex, run: object) -> None:
            nonlocal calls
            calls += 1
            if calls == 2:
                raise OSError("crash after the merged run was published")
            forget(self, run)  # type: ignore[arg-type]

        monkeypatch.setattr(DedupeIndex, "_forget", crash_on_second)
        with pytest.raises(OSError, match="crash after"):
            index.release("s2")
        monkeypatch.undo()
    with DedupeIndex(path, merge_runs=3) as index:
        assert claim(index, "s3", [ev(m) for m in "abcde"], received_day=DAY) == [
            *[False] * 4,
            True,
        ]
        index.release("s3")
        index.expire(_at_noon(DAY + timedelta(days=1)))
        assert index.stats().runs == 1
        assert index.stats().keys == 5  # a key left in two runs is written once


# -- the disk budget -------------------------------------------------------------------------


def test_the_budget_drops_the_oldest_days_early_and_claims_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    budget = 12 * 25
    now = _at_noon(DAY)
    with DedupeIndex(tmp_path / "dedupe", max_bytes=budget) as index:
        for back in (4, 3, 2, 1, 0):  # 10 keys a day, oldest first
            day = DAY - timedelta(days=back)
            with caplog.at_level(logging.WARNING, logger="cxloop.lake"):
                index.claim(f"s{back}", [ev(f"{back}-{i}") for i in range(10)], received_day=day)
            assert index.stats().bytes <= budget
        assert index.stats().keys == 20  # two days kept
        assert "reached its disk budget" in caplog.text
        kept = index.stats(now)
        assert kept.days == 2
        assert kept.window_seconds == pytest.approx(1 * 86400 + 12 * 3600)
        # Exact within the shorter window, forgotten beyond it.
        assert claim(index, "x", [ev("1-0"), ev("0-9"), ev("2-0")], received_day=DAY) == [
            False,
            False,
            True,
        ]
    with DedupeIndex(tmp_path / "dedupe", max_bytes=budget) as index:  # remembered
        assert index.stats(now).window_seconds < 2 * 86400


def test_the_budget_never_drops_the_newest_day(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with DedupeIndex(tmp_path / "dedupe", max_bytes=12 * 5) as index:
        with caplog.at_level(logging.WARNING, logger="cxloop.lake"):
            mask = index.claim("s1", [ev(str(i)) for i in range(10)], received_day=DAY)
        assert mask.all()
        assert index.stats().keys == 10
        assert "over its budget" in caplog.text
        assert claim(index, "s2", [ev("3")], received_day=DAY) == [False]


def test_no_budget_means_the_configured_window(index: DedupeIndex) -> None:
    claim(index, "s1", [ev("a")], received_day=DAY - timedelta(days=30))
    claim(index, "s2", [ev("b")], received_day=DAY)
    assert index.stats().days == 2
    assert index.stats().window_seconds == index.window_days * 86400


# -- the upgrade from SQLite -----------------------------------------------------------------


_LEGACY_SCHEMA = (
    "CREATE TABLE dedupe_namespaces (ns INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
    "project_id TEXT NOT NULL, UNIQUE (kind, project_id))",
    "CREATE TABLE dedupe_segments (seq INTEGER PRIMARY KEY, segment_id TEXT NOT NULL UNIQUE, "
    "received_day INTEGER NOT NULL)",
    "CREATE TABLE dedupe_recent (ns INTEGER NOT NULL, message_id TEXT NOT NULL, "
    "owner INTEGER NOT NULL, PRIMARY KEY (ns, message_id)) WITHOUT ROWID",
    "CREATE TABLE dedupe_settled (ns INTEGER NOT NULL, message_id TEXT NOT NULL, "
    "owner INTEGER NOT NULL, PRIMARY KEY (ns, message_id)) WITHOUT ROWID",
)


def test_an_sqlite_index_is_imported_on_first_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedupe_module, "_IMPORT_CHUNK", 3)
    legacy = tmp_path / "state" / "dedupe.sqlite"
    legacy.parent.mkdir()
    old = DAY - timedelta(days=20)
    db = sqlite3.connect(legacy)
    for statement in _LEGACY_SCHEMA:
        db.execute(statement)
    db.executemany(
        "INSERT INTO dedupe_namespaces VALUES (?, ?, ?)", [(1, "e", "p1"), (2, "f", "p1")]
    )
    db.executemany(
        "INSERT INTO dedupe_segments VALUES (?, ?, ?)",
        [(1, "w0-1", DAY.toordinal()), (2, "w0-2", old.toordinal())],
    )
    db.executemany(
        "INSERT INTO dedupe_settled VALUES (?, ?, ?)",
        [(1, "a", 1), (1, "b", 1), (2, "a", 1), (1, "z", 2)],
    )
    db.executemany("INSERT INTO dedupe_recent VALUES (?, ?, ?)", [(1, "c", 1), (1, "y", 2)])
    db.commit()
    db.close()

    legacy.with_name("dedupe.sqlite.lock").touch()
    with DedupeIndex(legacy) as index:
        assert not legacy.exists()
        assert not legacy.with_name("dedupe.sqlite.lock").exists()
        assert (legacy.parent / "dedupe.sqlite.imported").is_file()
        assert index.stats().keys == 6
        assert index.stats().days == 2
        keys = [ev("a"), ev("b"), ev("c"), ("f", "p1", "a"), ev("z"), ev("y"), ev("new")]
        assert claim(index, "w1-1", keys, received_day=DAY) == [*[False] * 6, True]
        # Imported ownership is not kept: unknown segments count first occurrences.
        assert owned(index, "w0-1", [ev("a")]) == [True]
        assert index.expire(_at_noon(DAY)) == 2  # the older day: z and y
    with DedupeIndex(legacy) as index:  # imported once
        assert index.stats().keys == 5
        assert claim(index, "w1-2", [ev("z"), ev("a")], received_day=DAY) == [True, False]


# -- rare fingerprints -----------------------------------------------------------------------


def test_equal_hi_with_different_lo_is_told_apart(tmp_path: Path) -> None:
    """A 64-bit clash of ``hi`` (about 1e-4 per window) must not make a duplicate."""
    hi = np.array([7, 7, 5, 7, 7], np.uint64)
    lo = np.array([1, 2, 9, 1, 3], np.uint32)
    mask, distinct_hi, distinct_lo, _first = dedupe_module._first_occurrences(Fingerprints(hi, lo))
    assert mask.tolist() == [True, True, True, False, True]
    assert sorted(zip(distinct_hi.tolist(), distinct_lo.tolist(), strict=True)) == [
        (5, 9),
        (7, 1),
        (7, 2),
        (7, 3),
    ]
    path = tmp_path / "run.claim"
    run_hi = np.array([5, 7, 7, 7, 8], np.uint64)
    run_lo = np.array([9, 4, 3, 2, 1], np.uint32)
    path.write_bytes(run_hi.tobytes() + run_lo.tobytes())
    probe_hi = np.array([5, 7, 7, 7, 9], np.uint64)
    probe_lo = np.array([9, 1, 2, 3, 1], np.uint32)
    for filter_min_keys in (1, 1 << 30):  # with the filter in front, and without
        dedupe_module._FILTER_MIN_KEYS, saved = filter_min_keys, dedupe_module._FILTER_MIN_KEYS
        try:
            run = dedupe_module._Run(path, 0, 5, "claim")
            assert dedupe_module._probe(run, probe_hi, probe_lo).tolist() == [
                True,
                False,
                True,
                True,
                False,
            ]
        finally:
            dedupe_module._FILTER_MIN_KEYS = saved


# -- a model ---------------------------------------------------------------------------------

keys_strategy = st.lists(
    st.tuples(st.sampled_from("ef"), st.sampled_from(["p1", "p2"]), st.sampled_from("abcdef")),
    max_size=12,
)


@settings(max_examples=120, deadline=None)
@given(
    claims=st.lists(st.tuples(st.integers(0, 4), keys_strategy, st.integers(0, 2)), max_size=10),
    batch_sizes=st.lists(st.integers(1, 4), min_size=10, max_size=10),
    merge_runs=st.integers(2, 4),
)
def test_claims_match_a_model(
    claims: list[tuple[int, list[DedupeKey], int]], batch_sizes: list[int], merge_runs: int
) -> None:
    """Random claims, re-claims and repeats, on three days, one by one or batched, with
    runs released and merged along the way, answer like a dict of first owners. A released
    segment is never claimed again (it was projected and deleted): its number then names a
    new segment."""
    owners: dict[DedupeKey, str] = {}
    released: set[str] = set()
    generation: dict[int, int] = {}
    asked: list[tuple[str, list[DedupeKey], list[bool]]] = []
    pending = list(claims)
    with (
        tempfile.TemporaryDirectory() as directory,
        DedupeIndex(Path(directory) / "d", merge_runs=merge_runs) as index,
    ):
        for size in batch_sizes:
            if not pending:
                break
            batch, pending = pending[:size], pending[size:]
            named = []
            for number, keys, day in batch:
                segment = f"s{number}-{generation.get(number, 0)}"
                seen: set[DedupeKey] = set()
                mask = []
                for key in keys:
                    owner = owners.setdefault(key, segment)
                    mask.append(owner == segment and key not in seen)
                    seen.add(key)
                named.append((segment, keys, day, mask))
                if day == 2:  # released after this batch: the number names a new segment next
                    generation[number] = generation.get(number, 0) + 1
            batch_claims = [
                Claim(seg, keys, DAY + timedelta(days=day)) for seg, keys, day, _ in named
            ]
            answers = [mask.tolist() for mask in index.claim_many(batch_claims)]
            assert answers == [mask for *_, mask in named]
            for segment, keys, day, mask in named:
                asked.append((segment, keys, mask))
                if day == 2:  # release some: their runs merge with the day's others
                    index.release(segment)
                    released.add(segment)
        for segment, keys, mask in asked:
            if segment not in released:
                assert owned(index, segment, keys) == mask
        assert index.stats().keys == len(owners)
        assert sum(f.stat().st_size for f in run_files(index)) == 12 * len(owners)


def test_claimed_segments_are_those_not_yet_released(index: DedupeIndex) -> None:
    claim(index, "s1", [ev("a")])
    claim(index, "s2", [ev("b")])
    index.release("s1")
    index.release("s1")  # twice: harmless
    index.release("unknown")
    assert index.claimed_segments() == ["s2"]
    assert claim(index, "s3", [ev("a"), ev("b")]) == [False, False]


@pytest.mark.parametrize("filter_min_keys", [1, 1 << 30])
def test_the_run_filter_never_hides_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, filter_min_keys: int
) -> None:
    monkeypatch.setattr(dedupe_module, "_FILTER_MIN_KEYS", filter_min_keys)
    with DedupeIndex(tmp_path / "dedupe") as index:
        first = [ev(f"m{i}", f"p{i % 3}") for i in range(5_000)]
        assert index.claim("s1", first).all()
        again = first[::7] + [ev(f"n{i}") for i in range(3_000)]
        mask = index.claim("s2", again)
        assert mask.tolist() == [False] * len(first[::7]) + [True] * 3_000
        run = next(iter(index._runs.values()))
        assert (run.filter is not None) == (filter_min_keys == 1)


def test_a_busy_day_is_not_rewritten_for_every_few_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedupe_module, "_MERGE_CHUNK", 64)  # slices of the hi space
    with DedupeIndex(tmp_path / "dedupe", merge_runs=3) as index:
        index.claim("big", [ev(f"b{i}") for i in range(400)], received_day=DAY)
        index.release("big")
        big_file = index.path / DAY.isoformat() / "big.rel"
        for n in range(9):  # 90 keys: less than a quarter of the big run's 400
            index.claim(f"s{n}", [ev(f"s{n}-{i}") for i in range(10)], received_day=DAY)
            index.release(f"s{n}")
            assert index.stats().runs <= 3 + 1
        assert big_file.exists()  # the small runs merged among themselves only
        index.claim("s9", [ev(f"s9-{i}") for i in range(10)], received_day=DAY)
        index.release("s9")  # now 100 keys beside 400: all merge
        assert not big_file.exists()
        assert index.stats().runs == 1
        assert index.stats().keys == 500
        every = [ev(f"b{i}") for i in range(400)] + [
            ev(f"s{n}-{i}") for n in range(10) for i in range(10)
        ]
        assert not index.claim("late", every, received_day=DAY).any()


_KILLED_CLAIM = """
import os, sys
from datetime import date
from pathlib import Path
from cxloop.lake import DedupeIndex
from cxloop.lake import dedupe

index = DedupeIndex(Path(sys.argv[1]))
index.claim("s0", [("e", "p1", "b")], received_day=date(2026, 11, 23))
dedupe.os.fsync = lambda fd: os.kill(os.getpid(), 9)  # SIGKILL inside s1's claim
index.claim("s1", [("e", "p1", "a"), ("e", "p1", "b")], received_day=date(2026, 11, 23))
"""


def test_a_claim_killed_mid_write_loses_nothing_and_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "dedupe"
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_CLAIM, str(path)], capture_output=True, check=False
    )
    assert child.returncode == -9, child.stderr.decode()
    with DedupeIndex(path) as index:  # the lock died with the process
        assert claim(index, "s1", [ev("a"), ev("b")], received_day=DAY) == [True, False]
        assert claim(index, "s2", [ev("a"), ev("b")], received_day=DAY) == [False, False]
        assert not list(path.glob("*/.*"))
