"""The cluster's dedupe claims without a database: the interface they share with the local
index, the binary COPY rows of a claim batch, and the node id."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

from cxloop.cluster import ClusterDedupe, node_id, owner_name
from cxloop.cluster import claims as claims_module
from cxloop.lake import DedupeIndex, Fingerprinter, KeyBatch, first_occurrences
from cxloop.settings import Settings

# What compaction, projection and the pipeline call on an index (lake/compactor.py,
# pipeline/process.py): the cluster's claims stand in for the local index there.
USED = ["claim", "claim_many", "owned", "release", "claimed_segments", "expire", "stats"]


@pytest.mark.parametrize("name", [*USED, "fingerprints", "close"])
def test_cluster_claims_answer_every_call_the_pipeline_makes_of_an_index(name: str) -> None:
    local = inspect.signature(getattr(DedupeIndex, name))
    cluster = inspect.signature(getattr(ClusterDedupe, name))
    assert list(cluster.parameters) == list(local.parameters)
    for parameter in local.parameters.values():
        assert cluster.parameters[parameter.name].kind == parameter.kind
        assert cluster.parameters[parameter.name].default == parameter.default


def _parse(rows: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """The COPY rows as the server reads them: big-endian, field counts and sizes."""
    data = rows.tobytes()
    parsed = []
    for start in range(0, len(data), rows.dtype.itemsize):
        row = data[start : start + rows.dtype.itemsize]
        assert int.from_bytes(row[:2], "big") == 5
        values, at = [], 2
        for width in (8, 4, 4, 8, 4):
            assert int.from_bytes(row[at : at + 4], "big") == width
            values.append(int.from_bytes(row[at + 4 : at + 4 + width], "big", signed=True))
            at += 4 + width
        parsed.append((values[0], values[1], values[2], values[3], values[4]))
    return parsed


def test_a_batch_holds_each_claims_distinct_keys_sorted_by_hi_and_maps_back() -> None:
    fingerprint = Fingerprinter(bytes(range(8)))
    try:
        claims = [
            KeyBatch.from_keys([("e", "p", f"m{i % 40}") for i in range(60)]),
            KeyBatch.from_keys([("e", "p", f"m{i}") for i in range(30, 90)]),
        ]
        prints = [fingerprint(keys) for keys in claims]
    finally:
        fingerprint.close()
    batch = claims_module._batch([11, 22], prints)
    rows = _parse(batch.rows)
    assert len(rows) == 40 + 60
    his = [hi for _, _, _, hi, _ in rows]
    assert his == sorted(his)
    for owner, seq, pos, hi, lo in rows:
        assert owner == (11, 22)[seq]
        first = int(batch.firsts[seq][pos])
        assert np.int64(prints[seq].hi[first].view(np.int64)) == hi
        assert np.int32(prints[seq].lo[first].view(np.int32)) == lo
    for seq, claim_prints in enumerate(prints):
        mask, *_ = first_occurrences(claim_prints)
        assert batch.masks[seq].tolist() == mask.tolist()


def test_the_node_id_is_the_setting_or_made_once_and_kept(tmp_path: Path) -> None:
    assert node_id(Settings(data_dir=tmp_path, node_id="edge-1")) == "edge-1"
    made = node_id(Settings(data_dir=tmp_path))
    assert made and node_id(Settings(data_dir=tmp_path)) == made
    assert (tmp_path / "state" / "node_id").read_text().strip() == made
    assert owner_name(made, "w0-1") == f"{made}.w0-1"
