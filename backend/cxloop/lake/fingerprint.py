"""96-bit keyed fingerprints of dedupe keys, computed a column at a time.

A key is (kind, project_id, message_id). Its fingerprint is

    md5(salt_hex || message_id)[:96 bits]  XOR  blake2b_salt(kind, project_id)[:96 bits]

The MD5 runs in DuckDB over the Arrow column (one kernel call per batch, no per-key Python);
the namespace tweak is computed once per distinct (kind, project) and gathered. Two distinct
keys collide only if the 96-bit values of distinct message ids differ by exactly the XOR of
two namespace tweaks, or two namespaces' tweaks are equal: about 2^-96 per pair either way.
The salt is random per index and never leaves the state directory, so nobody outside can
compute a fingerprint, let alone aim two message ids at the same one. MD5 (not DuckDB's
``hash()``) because the fingerprints are persisted: its output can never change with an
upgrade of DuckDB.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["SALT_BYTES", "Fingerprinter", "Fingerprints", "KeyBatch"]

SALT_BYTES = 8  # 16 hex characters: salt and a UUID message id fit one 64-byte MD5 block

# (kind, project_id, message_id)
_KEY_KINDS = ("e", "f")

_FINGERPRINT_SQL = (
    "SELECT (h >> 64)::UBIGINT AS hi, (h & 4294967295)::UINTEGER AS lo "
    "FROM (SELECT md5_number($salt || message_id) AS h FROM dedupe_keys)"
)

U64 = npt.NDArray[np.uint64]
U32 = npt.NDArray[np.uint32]


@dataclass(frozen=True, slots=True)
class KeyBatch:
    """Dedupe keys as columns: ``failed`` picks the kind ('f' if true, else 'e')."""

    failed: pa.BooleanArray
    project_id: pa.StringArray | pa.LargeStringArray
    message_id: pa.StringArray | pa.LargeStringArray

    def __len__(self) -> int:
        return len(self.message_id)

    @classmethod
    def from_table(cls, table: pa.Table) -> KeyBatch:
        """The keys of WAL-schema rows, in row order: a row with a failure_reason is 'f'."""
        failed = pc.is_valid(table.column("failure_reason")).combine_chunks()
        return cls(
            failed,
            table.column("project_id").combine_chunks(),
            table.column("message_id").combine_chunks(),
        )

    @classmethod
    def from_keys(cls, keys: Sequence[tuple[str, str, str]]) -> KeyBatch:
        """From (kind, project_id, message_id) tuples (tests, tools; not the hot path)."""
        kinds = [kind for kind, _, _ in keys]
        unknown = set(kinds) - set(_KEY_KINDS)
        if unknown:
            raise ValueError(f"dedupe key kinds are 'e' or 'f', not {sorted(unknown)!r}")
        return cls(
            pa.array([kind == "f" for kind in kinds], pa.bool_()),
            pa.array([project for _, project, _ in keys], pa.string()),
            pa.array([message for _, _, message in keys], pa.string()),
        )


@dataclass(frozen=True, slots=True)
class Fingerprints:
    """``hi`` (64 bits) and ``lo`` (32 bits) of each key's fingerprint, in key order."""

    hi: U64
    lo: U32

    def __len__(self) -> int:
        return len(self.hi)


class Fingerprinter:
    """Fingerprints under one index's salt. Thread-safe (one DuckDB connection, locked)."""

    def __init__(self, salt: bytes) -> None:
        if len(salt) != SALT_BYTES:
            raise ValueError(f"a dedupe salt has {SALT_BYTES} bytes, not {len(salt)}")
        self._salt = salt
        self._salt_text = salt.hex()
        self._db = duckdb.connect(config={"threads": 1})
        self._lock = threading.Lock()
        self._tweaks: dict[tuple[bool, str], tuple[int, int]] = {}

    def close(self) -> None:
        self._db.close()

    def __call__(self, keys: KeyBatch) -> Fingerprints:
        rows = len(keys)
        if rows == 0:
            return Fingerprints(np.empty(0, np.uint64), np.empty(0, np.uint32))
        if keys.message_id.null_count or keys.project_id.null_count or keys.failed.null_count:
            raise ValueError("dedupe keys must not be null")
        hi, lo = self._message_hashes(keys.message_id)
        tweak_hi, tweak_lo, codes = self._namespace_tweaks(keys)
        np.bitwise_xor(hi, tweak_hi[codes], out=hi)
        np.bitwise_xor(lo, tweak_lo[codes], out=lo)
        return Fingerprints(hi, lo)

    def _message_hashes(self, message_id: pa.Array) -> tuple[U64, U32]:
        with self._lock:
            self._db.register("dedupe_keys", pa.table({"message_id": message_id}))
            try:
                result = self._db.execute(_FINGERPRINT_SQL, {"salt": self._salt_text}).fetchnumpy()
            finally:
                self._db.unregister("dedupe_keys")
        hi = np.ascontiguousarray(result["hi"], dtype=np.uint64)
        lo = np.ascontiguousarray(result["lo"], dtype=np.uint32)
        return hi, lo

    def _namespace_tweaks(self, keys: KeyBatch) -> tuple[U64, U32, npt.NDArray[np.intp]]:
        """Each distinct (kind, project)'s tweak, and each key's index into them."""
        projects = pc.dictionary_encode(keys.project_id)
        names: list[str] = projects.dictionary.to_pylist()
        failed = keys.failed.to_numpy(zero_copy_only=False).astype(np.intp)
        codes = projects.indices.to_numpy(zero_copy_only=False).astype(np.intp) * 2 + failed
        tweak_hi = np.empty(2 * len(names), np.uint64)
        tweak_lo = np.empty(2 * len(names), np.uint32)
        for number, name in enumerate(names):  # per distinct project, not per key
            for kind in (False, True):
                tweak_hi[2 * number + kind], tweak_lo[2 * number + kind] = self._tweak(kind, name)
        return tweak_hi, tweak_lo, codes

    def _tweak(self, failed: bool, project_id: str) -> tuple[int, int]:
        cached = self._tweaks.get((failed, project_id))
        if cached is None:
            kind = _KEY_KINDS[failed].encode()
            data = kind + project_id.encode("utf-8", "surrogatepass")
            digest = hashlib.blake2b(data, digest_size=12, key=self._salt).digest()
            cached = (int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little"))
            if len(self._tweaks) < 100_000:
                self._tweaks[(failed, project_id)] = cached
        return cached
