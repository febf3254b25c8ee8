"""Keyed 96-bit fingerprints of dedupe keys, computed on columns."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from cxloop.lake.fingerprint import SALT_BYTES, Fingerprinter, KeyBatch

SALT = bytes(range(SALT_BYTES))


@pytest.fixture
def fingerprint() -> Fingerprinter:
    return Fingerprinter(SALT)


def _expected(salt: bytes, kind: str, project: str, message: str) -> tuple[int, int]:
    """The definition, written out with hashlib: pins the format the runs on disk rely on."""
    digest = hashlib.md5(salt.hex().encode() + message.encode()).digest()
    tweak = hashlib.blake2b(kind.encode() + project.encode(), digest_size=12, key=salt).digest()
    hi = int.from_bytes(digest[8:16], "little") ^ int.from_bytes(tweak[:8], "little")
    lo = int.from_bytes(digest[:4], "little") ^ int.from_bytes(tweak[8:], "little")
    return hi, lo


@pytest.mark.parametrize(
    "key",
    [
        ("e", "p1", "m1"),
        ("f", "p1", "m1"),
        ("e", "proj_2", "5f0c7a34-7b1e-4c1e-9d55-7a0c4f0e1a2b"),
        ("e", "ünï", "emoji 😀"),
        ("e", "p", ""),
        ("f", "p", "x" * 2000),
    ],
)
def test_the_fingerprint_is_md5_of_the_message_xor_a_namespace_tweak(
    fingerprint: Fingerprinter, key: tuple[str, str, str]
) -> None:
    prints = fingerprint(KeyBatch.from_keys([key]))
    assert (int(prints.hi[0]), int(prints.lo[0])) == _expected(SALT, *key)
    assert prints.hi.dtype == np.uint64
    assert prints.lo.dtype == np.uint32


def test_columns_and_tuples_give_the_same_fingerprints(fingerprint: Fingerprinter) -> None:
    table = pa.table(
        {
            "message_id": ["a", "b", "a", "c"],
            "project_id": ["p1", "p1", "p2", "p1"],
            "failure_reason": [None, "bad", None, None],
        }
    )
    from_table = fingerprint(KeyBatch.from_table(table))
    keys = [("e", "p1", "a"), ("f", "p1", "b"), ("e", "p2", "a"), ("e", "p1", "c")]
    from_keys = fingerprint(KeyBatch.from_keys(keys))
    assert from_table.hi.tolist() == from_keys.hi.tolist()
    assert from_table.lo.tolist() == from_keys.lo.tolist()


def test_namespaces_and_salts_separate_keys(fingerprint: Fingerprinter) -> None:
    keys = [("e", "p1", "m"), ("f", "p1", "m"), ("e", "p2", "m"), ("e", "p1", "M")]
    prints = fingerprint(KeyBatch.from_keys(keys))
    pairs = set(zip(prints.hi.tolist(), prints.lo.tolist(), strict=True))
    assert len(pairs) == 4
    other = Fingerprinter(bytes(SALT_BYTES))(KeyBatch.from_keys(keys))
    assert not set(prints.hi.tolist()) & set(other.hi.tolist())


def test_many_random_keys_have_distinct_fingerprints(fingerprint: Fingerprinter) -> None:
    count = 200_000
    batch = KeyBatch(
        pa.array(np.zeros(count, bool)),
        pa.array([f"p{i % 7}" for i in range(count)]),
        pa.array([f"message-{i}" for i in range(count)]),
    )
    prints = fingerprint(batch)
    assert len(np.unique(prints.hi)) == count  # 64 bits alone: a clash here is ~1e-9


def test_bad_keys_are_refused(fingerprint: Fingerprinter) -> None:
    with pytest.raises(ValueError, match="'e' or 'f'"):
        KeyBatch.from_keys([("x", "p", "m")])
    batch = KeyBatch(pa.array([False]), pa.array(["p"]), pa.array([None], pa.string()))
    with pytest.raises(ValueError, match="must not be null"):
        fingerprint(batch)
    with pytest.raises(ValueError, match="8 bytes"):
        Fingerprinter(b"short")


def test_no_keys(fingerprint: Fingerprinter) -> None:
    assert len(fingerprint(KeyBatch.from_keys([]))) == 0
