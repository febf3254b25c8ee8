"""The dedupe runs' memory: a probe or a merge keeps about one slice of a run resident, and
walking a run in slices answers exactly what one search over the whole run would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cxloop.lake import dedupe as dedupe_module

SLICE_MIB = dedupe_module._SLICE_KEYS * dedupe_module.KEY_BYTES / 2**20
# A touched page maps its whole folio of the page cache, up to 2 MiB on recent kernels: a
# slice's ends can each hold one more in hi and in lo.
FOLIO_MIB = 2


def mapped_rss_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of ``path`` (0 when unmapped)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                inside = line.rstrip().endswith(str(path))
            elif inside and first == "Rss:":
                total += int(line.split()[1])
    return total


def write_run(path: Path, hi: np.ndarray, lo: np.ndarray, state: str = "run") -> dedupe_module._Run:
    dedupe_module._write_run(path, hi, lo)
    return dedupe_module._Run(path, 0, len(hi), state)  # type: ignore[arg-type]


def random_run(
    path: Path, keys: int, seed: int
) -> tuple[dedupe_module._Run, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hi = np.sort(rng.integers(0, 2**64, keys, dtype=np.uint64))
    lo = rng.integers(0, 2**32, keys, dtype=np.uint32)
    return write_run(path, hi, lo), hi, lo


class Resident:
    """KiB of the big run's mapping resident right before each slice is dropped (the most a
    probe or merge holds while it works) and right after each drop, in ``seen``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: list[int] = []


@pytest.fixture
def resident(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Resident:
    watch = Resident(tmp_path / "merged-1.run")
    drop = dedupe_module._Mapping.drop

    def measured(self: dedupe_module._Mapping, start: int, stop: int) -> None:
        # A drop of the whole run follows the few binary searches over all of it (slice
        # edges) at once; what they mapped in between is not held while a slice is worked.
        if (start, stop) != (0, self.count):
            watch.seen.append(mapped_rss_kib(watch.path))
        drop(self, start, stop)
        watch.seen.append(mapped_rss_kib(watch.path))

    monkeypatch.setattr(dedupe_module._Mapping, "drop", measured)
    return watch


def test_a_probe_pass_keeps_about_one_slice_of_a_big_run_resident(
    resident: Resident,
) -> None:
    keys = 8 * dedupe_module._SLICE_KEYS  # 48 MiB of run
    run, hi, lo = random_run(resident.path, keys, seed=1)
    rng = np.random.default_rng(2)
    # A segment-sized probe: 200k keys, 1 % of them in the run.
    old = rng.choice(keys, 2_000, replace=False)
    probe_hi = np.concatenate([hi[old], rng.integers(0, 2**64, 198_000, dtype=np.uint64)])
    probe_lo = np.concatenate([lo[old], rng.integers(0, 2**32, 198_000, dtype=np.uint32)])
    order = np.argsort(probe_hi)
    probe_hi, probe_lo = probe_hi[order], probe_lo[order]

    found = dedupe_module._probe(run, probe_hi, probe_lo)  # builds the filter, then probes
    found_again = dedupe_module._probe(run, probe_hi, probe_lo)

    expected = np.isin(
        probe_hi.astype(object) * 2**32 + probe_lo, hi[old].astype(object) * 2**32 + lo[old]
    )
    assert found.tolist() == expected.tolist() == found_again.tolist()
    assert found.sum() == 2_000
    # Every slice was walked and dropped, and never more than about one slice was resident
    # (with the folios at its ends), against 48 MiB for the whole run.
    assert len(resident.seen) >= 2 * 2 * 8
    assert max(resident.seen) / 1024 <= SLICE_MIB + 2 * FOLIO_MIB, resident.seen
    assert mapped_rss_kib(resident.path) == 0  # unmapped once the probe returns


def test_a_merge_keeps_about_one_slice_of_its_runs_resident(
    tmp_path: Path, resident: Resident
) -> None:
    keys = 6 * dedupe_module._SLICE_KEYS
    big, hi, lo = random_run(resident.path, keys, seed=3)
    small, small_hi, small_lo = random_run(tmp_path / "seg.rel", 50_000, seed=4)

    count = dedupe_module._merge_runs([big, small], tmp_path / "merged-2.run")

    assert count == keys + 50_000
    data = np.fromfile(tmp_path / "merged-2.run", np.uint8)
    merged_hi = data[: 8 * count].view(np.uint64)
    assert (np.diff(merged_hi.astype(np.float64)) >= 0).all()
    assert np.array_equal(np.sort(np.concatenate([hi, small_hi])), merged_hi)
    assert sorted(data[8 * count :].view(np.uint32).tolist()) == sorted(
        np.concatenate([lo, small_lo]).tolist()
    )
    merge_chunk_mib = dedupe_module._MERGE_CHUNK * dedupe_module.KEY_BYTES / 2**20
    assert len(resident.seen) >= 2 * keys // dedupe_module._MERGE_CHUNK
    assert max(resident.seen) / 1024 <= merge_chunk_mib + 4 * FOLIO_MIB, resident.seen


def test_slices_answer_as_one_search_even_with_equal_hi_across_a_slice_edge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dedupe_module, "_SLICE_KEYS", 4)
    # Keys 3..6 share one hi across the edge at 4, with different lo; and 8..9 at the next.
    hi = np.array([1, 2, 3, 9, 9, 9, 9, 10, 12, 12, 14], np.uint64)
    lo = np.array([0, 0, 0, 4, 3, 2, 1, 0, 7, 8, 0], np.uint32)
    run = write_run(tmp_path / "r.run", hi, lo)
    probes = [(0, 0), (2, 0), (9, 1), (9, 2), (9, 4), (9, 5), (10, 0), (12, 8), (12, 9), (14, 0),
              (15, 0)]  # fmt: skip
    probe_hi = np.array([h for h, _ in probes], np.uint64)
    probe_lo = np.array([low for _, low in probes], np.uint32)
    for filter_min_keys in (1, 1 << 30):  # with the filter in front, and without
        monkeypatch.setattr(dedupe_module, "_FILTER_MIN_KEYS", filter_min_keys)
        run.filter = None
        assert dedupe_module._probe(run, probe_hi, probe_lo).tolist() == [
            False, True, True, True, True, False, True, True, False, True, False,
        ]  # fmt: skip


def test_the_filter_built_in_slices_is_the_filter_of_the_whole_run(tmp_path: Path) -> None:
    run, hi, _ = random_run(tmp_path / "r.run", 3 * dedupe_module._SLICE_KEYS + 17, seed=5)
    bits, packed = dedupe_module._build_filter(dedupe_module._Mapping(run))
    marks = np.zeros(1 << bits, np.bool_)
    marks[hi >> np.uint64(64 - bits)] = True
    assert bits == int(np.ceil(np.log2(len(hi) * dedupe_module._FILTER_BITS_PER_KEY)))
    assert np.array_equal(packed, np.packbits(marks))
