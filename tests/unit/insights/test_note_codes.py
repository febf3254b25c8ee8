"""Every untested rating change carries a stable note code and the groups it is about, next to
its English note (the console words the code in the reader's language)."""

from __future__ import annotations

from collections.abc import Sequence

from cxloop.insights.ratings_schemas import ChangeRow
from cxloop.insights.stats import (
    MIN_N,
    Counts,
    change_against_rest,
    change_between,
    settle,
    summarise,
)
from cxloop.surveys import Kind, segment_of


def counts_of(kind: Kind, scores: Sequence[float]) -> Counts:
    segments = [segment_of(kind, s) for s in scores]
    return Counts(
        n=len(scores),
        promoters=segments.count("promoter"),
        passives=segments.count("passive"),
        detractors=segments.count("detractor"),
        total=sum(scores),
        squares=sum(s * s for s in scores),
    )


def test_a_tested_change_has_no_note() -> None:
    big = summarise("nps", counts_of("nps", [10, 0, 7] * 20))
    change = change_between("nps", big, big)
    assert (change.tested, change.note, change.note_code, change.note_groups) == (
        True,
        None,
        None,
        (),
    )


def test_no_ratings_names_the_empty_period() -> None:
    before = summarise("nps", counts_of("nps", [0] * 50))
    change = change_between("nps", summarise("nps", Counts()), before)
    assert change.note_code == "no_ratings" and change.note_groups == ("current",)
    assert change.note == "no ratings in the current period: nothing to compare"
    both = change_between("nps", summarise("nps", Counts()), summarise("nps", Counts()))
    assert both.note_groups == ("current", "previous")
    assert (
        both.note == "no ratings in the current period and the previous period: nothing to compare"
    )


def test_few_ratings_keeps_its_code_after_settling() -> None:
    now = summarise("nps", counts_of("nps", [10] * (MIN_N - 1)))
    before = summarise("nps", counts_of("nps", [0] * 200))
    [settled] = settle([change_between("nps", now, before)])
    assert settled.p is not None and not settled.significant
    assert settled.note_code == "few_ratings" and settled.note_groups == ("current",)
    assert settled.note is not None and settled.note.startswith(f"fewer than {MIN_N} ratings")


def test_no_difference_without_variance_keeps_the_small_groups_note() -> None:
    # One CES rating per period: no sample variance, so no difference; the note says why.
    one = summarise("ces", counts_of("ces", [3]))
    change = change_between("ces", one, one)
    assert change.difference is None and not change.tested
    assert change.note_code == "few_ratings"
    assert change.note_groups == ("current", "previous")


def test_against_the_rest_names_the_groups() -> None:
    big = summarise("nps", counts_of("nps", [10, 0, 7] * 20))
    small = summarise("nps", counts_of("nps", [10, 0]))
    change = change_against_rest("nps", big, small, big, summarise("nps", Counts()))
    assert change.note_code == "no_ratings" and change.note_groups == ("rest_previous",)
    change = change_against_rest("nps", big, small, big, big)
    assert change.note_code == "few_ratings" and change.note_groups == ("segment_previous",)


def test_the_row_carries_code_and_groups() -> None:
    row = ChangeRow(
        groups={}, current_n=0, current_metric=None, current_low=None, current_high=None,
        previous_n=0, previous_metric=None, previous_low=None, previous_high=None,
        difference=None, low=None, high=None, p=None, q=None, significant=False,
        note="too few ratings to compare", note_code="too_few",
    )  # fmt: skip
    assert row.note_groups == [] and row.note_code == "too_few"
