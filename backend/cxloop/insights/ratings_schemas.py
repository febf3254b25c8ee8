"""Answers of ``/v1/insights/ratings`` and ``/v1/insights/ratings/change``."""

from __future__ import annotations

from typing import Literal

import msgspec

from cxloop.insights.stats import MIN_N, NoteCode

__all__ = ["ChangeRow", "RatingChanges", "RatingRow", "Ratings"]


class RatingRow(msgspec.Struct, kw_only=True):
    """One period × group: counts, the kind's metric and its 95% interval."""

    period: str | None  # first day of the period (UTC); the range's first day for period=all
    groups: dict[str, str | None]  # group_by dimension → value (null: not known)
    n: int
    promoters: int
    passives: int
    detractors: int
    metric: float | None  # NPS points, % satisfied, or CES mean
    low: float | None
    high: float | None
    low_effort: float | None = None  # CES only: % of answers in the easy segment
    shown: int | None = None  # Survey Shown events in the same group (null: none recorded)
    response_rate: float | None = None  # n / shown, when shown > 0


class Ratings(msgspec.Struct, kw_only=True):
    kind: str
    metric: str  # what ``metric`` means for this kind
    since: str = msgspec.field(name="from")
    until: str = msgspec.field(name="to")
    period: str
    group_by: list[str]
    rows: list[RatingRow]


class ChangeRow(msgspec.Struct, kw_only=True):
    """One group: both periods, the difference (or difference in differences) and its test."""

    groups: dict[str, str | None]
    current_n: int
    current_metric: float | None
    current_low: float | None
    current_high: float | None
    previous_n: int
    previous_metric: float | None
    previous_low: float | None
    previous_high: float | None
    rest_change: float | None = None  # compare=rest: the rest of the population's change
    difference: float | None  # current − previous; compare=rest: minus the rest's change
    low: float | None
    high: float | None
    p: float | None
    q: float | None  # p adjusted across the rows of this answer (Benjamini–Hochberg)
    significant: bool
    note: str | None = None  # why the change is not tested, in English
    # The note as a stable code (no_ratings, few_ratings, too_few) and the groups it is about
    # (current, previous; compare=rest: segment_current … rest_previous), for other languages.
    note_code: NoteCode | None = None
    note_groups: list[str] = msgspec.field(default_factory=list)


class RatingChanges(msgspec.Struct, kw_only=True):
    kind: str
    metric: str
    since: str = msgspec.field(name="from")
    until: str = msgspec.field(name="to")
    compare_from: str
    compare_to: str
    compare: Literal["previous", "rest"]
    group_by: list[str]
    rows: list[ChangeRow]
    min_n: int = MIN_N  # ratings a group needs for its change to be called significant
