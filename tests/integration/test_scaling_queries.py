"""docs/scaling.md's query examples, run as written against an S3 lake cxloop wrote (moto).

The blocks marked *tested* in "Querying the lake" are taken from the page itself, so the page
cannot drift from what works. The lake holds a merge caught between its PUT and its DELETEs (a
merged file beside the sources it replaces), which is what an outside reader may list on object
storage: the page's advice — count distinct ``message_id`` — must give the exact figures, and a
plain count must not (else the scenario would not test anything).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from cxloop.ingest import events_table
from cxloop.lake import DedupeIndex, LakeLocation, compact_segments, list_partitions, live_files
from tests.helpers.rows import wal_row
from tests.helpers.s3 import S3Server, s3_server
from tests.helpers.segments import BASE_US, DAY_US, segment_path, write_segment

DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"
EVENTS = ("Report Viewed", "Export Clicked", "Report Viewed", "Invite Sent")


def _block(after: str) -> str:
    """The first ```python block after the paragraph that starts with ``after``."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(after)
    match = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert match, f"no python block after {after!r} in docs/scaling.md"
    return match.group(1)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, str, Counter[Any]]]:
    """An S3 lake of 3 segments over 2 projects and 2 days, and the truth: events per
    (project, day). One partition also holds a copy of a file under a merged file's name."""
    root = tmp_path_factory.mktemp("scaling")
    with s3_server() as s3:
        bucket = s3.bucket()
        location = LakeLocation.object_store(f"s3://{bucket}/lake", s3.endpoint_url)
        truth: Counter[Any] = Counter()
        paths = []
        n = 0
        for s in range(3):
            rows = []
            for i in range(n, n + 40):
                day = BASE_US + (i % 2) * DAY_US
                project = f"prj_{i % 3 % 2}"
                rows.append(
                    wal_row(
                        f"m{i}",
                        project,
                        event=EVENTS[i % 4],
                        user_id=f"u{i % 7}",
                        timestamp=day,
                        received_at=day,
                    )
                )
                truth[(project, i % 2)] += 1
            # A client's retry of the first 5 events of this segment: duplicates, dropped.
            rows.extend(rows[:5])
            n += 40
            paths.append(write_segment(segment_path(root / "wal" / "w0", s + 1), [rows]))
        with DedupeIndex(root / "dedupe.sqlite") as index:
            compact_segments(
                paths,
                expand=events_table,
                lake_dir=location,
                index=index,
                corrupt_dir=root / "corrupt",
            )
        # A merge caught between its PUT and its DELETEs: the merged file beside its source.
        partition = list_partitions(location, "events")[0]
        source = live_files(location, partition)[0]
        fs = location.fs
        with fs.open_input_file(source.key) as f:
            data = f.read()
        merged = f"{partition}/part-m{uuid.uuid4().hex[:20]}.parquet"
        with fs.open_output_stream(location.path(merged)) as out:
            out.write(data)
        yield s3, bucket, truth


def _truth_by_day(truth: Counter[Any]) -> dict[tuple[str, int], int]:
    return dict(truth)


def _ordinal(day: Any) -> int:
    """A partition's day as an engine gives it back: text from a pyarrow hive dataset, a
    ``date`` from Spark."""
    return (date.fromisoformat(day) if isinstance(day, str) else day).toordinal()


def test_the_duckdb_example_counts_each_event_once(lake: Any) -> None:
    s3, bucket, truth = lake
    scope: dict[str, Any] = {"ENDPOINT": s3.endpoint_url.removeprefix("http://"), "BUCKET": bucket}
    exec(_block("**DuckDB** (*tested*)"), scope)
    daily = scope["daily"]
    got = {(project, _ordinal(day)): events for project, day, events, _people in daily}
    first = min(day for _p, day in got)
    assert {(p, d - first): n for (p, d), n in got.items()} == _truth_by_day(truth)
    # The listing really holds a row twice: a plain count is wrong, as the page warns.
    events = scope["events"]  # DuckDB finds the dataset by its name in this frame
    plain = scope["duckdb"].sql("SELECT count(*) FROM events").fetchall()[0][0]
    assert events is scope["events"]
    assert plain > sum(truth.values())
    assert all(people >= 1 for *_rest, people in daily)


def test_the_polars_example_keeps_one_row_per_event(lake: Any) -> None:
    s3, bucket, _truth = lake
    scope: dict[str, Any] = {"ENDPOINT": s3.endpoint_url.removeprefix("http://"), "BUCKET": bucket}
    exec(_block("**DuckDB** (*tested*)").split("daily =")[0], scope)  # the dataset
    exec(_block("**pandas and Polars** (*tested*)"), scope)
    per_event = dict(scope["per_event"].iter_rows())
    expected = Counter(EVENTS[i % 4] for i in range(120))
    assert per_event == dict(expected)
    assert scope["frame"].to_pandas()["message_id"].is_unique


def test_the_spark_example_counts_each_event_once(lake: Any, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    s3, bucket, truth = lake
    # Spark reads a local copy (hadoop-aws, for s3a://, is not installable here).
    local = tmp_path / "lake"
    pafs.copy_files(f"{bucket}/lake", str(local), source_filesystem=s3.filesystem())
    scope: dict[str, Any] = {"LAKE": "file://" + str(local)}
    code = _block("**Spark** (*tested*").replace(
        '.master("local[2]").getOrCreate()',
        '.master("local[1]").config("spark.ui.enabled", "false")'
        '.config("spark.sql.shuffle.partitions", "2").getOrCreate()',
    )
    exec(code, scope)
    try:
        rows = scope["per_day"].collect()
        got = {(r["project_id"], _ordinal(r["date"])): r["events"] for r in rows}
        first = min(day for _p, day in got)
        assert {(p, d - first): n for (p, d), n in got.items()} == _truth_by_day(truth)
        assert scope["events"].count() > sum(truth.values())  # the merged copy is listed
    finally:
        scope["spark"].stop()


def test_the_lake_holds_the_merged_copy_only_for_outside_readers(lake: Any) -> None:
    """cxloop's own listing skips the sources a merged file names; the copy made here names
    none, so this checks the scenario, not the skip (tests/integration/test_lake_s3_writers.py
    does): both files are listed, and the rows they share are what DISTINCT removes."""
    s3, bucket, truth = lake
    location = LakeLocation.object_store(f"s3://{bucket}/lake", s3.endpoint_url)
    rows = 0
    for partition in list_partitions(location, "events"):
        for file in live_files(location, partition):
            rows += pq.read_metadata(file.key, filesystem=location.fs).num_rows
    assert rows > sum(truth.values())
