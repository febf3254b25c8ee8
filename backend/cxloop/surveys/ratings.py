"""Rating kinds, the scores each offers and its detractor/passive/promoter segments: the one
definition every Python use imports.

Two copies live outside Python and tests hold them equal to this table: PostgreSQL's
``cxloop_survey_segment(kind, score)`` (migrations/0003; alerts and the health feedback call
it) and the widget's ``SCALES`` and ``segment()`` in ``sdk-js/src/surveys/targeting.js``.
This module imports nothing from cxloop, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal, NamedTuple, TypeGuard, get_args

__all__ = [
    "KINDS",
    "SCALES",
    "SEGMENTS",
    "Kind",
    "Scale",
    "Segment",
    "is_kind",
    "segment_of",
]

Kind = Literal["nps", "csat", "ces", "thumbs", "emoji"]
Segment = Literal["detractor", "passive", "promoter"]

KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
SEGMENTS: Final[tuple[Segment, ...]] = get_args(Segment)


class Scale(NamedTuple):
    """The scores a kind offers (``lowest``…``highest``, the range ingest accepts) and where
    its segments end: a score at ``detractor_edge`` or further from the good end is a
    detractor, one at ``promoter_edge`` or nearer to it a promoter, anything between passive."""

    lowest: int
    highest: int
    detractor_edge: int
    promoter_edge: int

    @property
    def higher_is_better(self) -> bool:
        """False for CES, where 1 is very easy and 7 very hard."""
        return self.detractor_edge < self.promoter_edge


SCALES: Final[Mapping[Kind, Scale]] = MappingProxyType(
    {
        "nps": Scale(lowest=0, highest=10, detractor_edge=6, promoter_edge=9),
        "csat": Scale(lowest=1, highest=5, detractor_edge=2, promoter_edge=4),
        "ces": Scale(lowest=1, highest=7, detractor_edge=5, promoter_edge=3),
        "thumbs": Scale(lowest=0, highest=1, detractor_edge=0, promoter_edge=1),
        "emoji": Scale(lowest=1, highest=5, detractor_edge=2, promoter_edge=4),
    }
)


def is_kind(value: object) -> TypeGuard[Kind]:
    """True for one of the rating kinds (any other value, of any type, is not one)."""
    return isinstance(value, str) and value in SCALES


def segment_of(kind: Kind, score: float) -> Segment:
    """Detractor, passive or promoter: the segment a score of this kind falls in."""
    scale = SCALES[kind]
    if scale.higher_is_better:
        if score <= scale.detractor_edge:
            return "detractor"
        return "promoter" if score >= scale.promoter_edge else "passive"
    if score >= scale.detractor_edge:
        return "detractor"
    return "promoter" if score <= scale.promoter_edge else "passive"
