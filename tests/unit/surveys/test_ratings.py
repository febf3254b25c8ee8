"""The one definition of rating kinds, score ranges and segments, and the browser widget's copy
of it held equal."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.surveys.ratings import KINDS, SCALES, SEGMENTS, Kind, is_kind, segment_of

ROOT = Path(__file__).parents[3]
TARGETING_JS = ROOT / "sdk-js" / "src" / "surveys" / "targeting.js"
SURVEYS_DOC = ROOT / "docs" / "surveys.md"

# The widget's table and its segment() of every score it offers, as JSON.
_DUMP_WIDGET_TABLE = """
const { SCALES, segment } = await import(process.argv[1]);
const table = {};
for (const [kind, [lowest, highest]] of Object.entries(SCALES)) {
  const segments = [];
  for (let score = lowest; score <= highest; score += 0.5) segments.push([score, segment(kind, score)]);
  table[kind] = { scale: [lowest, highest], segments };
}
process.stdout.write(JSON.stringify(table));
"""


@pytest.mark.parametrize(
    ("kind", "score", "segment"),
    [
        ("nps", 0, "detractor"), ("nps", 6, "detractor"), ("nps", 7, "passive"),
        ("nps", 8, "passive"), ("nps", 9, "promoter"), ("nps", 10, "promoter"),
        ("csat", 1, "detractor"), ("csat", 2, "detractor"), ("csat", 3, "passive"),
        ("csat", 4, "promoter"), ("ces", 7, "detractor"), ("ces", 5, "detractor"),
        ("ces", 4, "passive"), ("ces", 3, "promoter"), ("ces", 1, "promoter"),
        ("thumbs", 0, "detractor"), ("thumbs", 1, "promoter"),
        ("emoji", 2, "detractor"), ("emoji", 3, "passive"), ("emoji", 5, "promoter"),
    ],
)  # fmt: skip
def test_segments_per_kind(kind: Kind, score: float, segment: str) -> None:
    assert segment_of(kind, score) == segment


ORDER = {"detractor": 0, "passive": 1, "promoter": 2}


@given(st.sampled_from(["nps", "csat", "emoji", "thumbs"]), st.floats(0, 10), st.floats(0, 10))
def test_higher_scores_never_make_a_worse_segment(kind: Kind, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert ORDER[segment_of(kind, low)] <= ORDER[segment_of(kind, high)]


@given(st.floats(1, 7), st.floats(1, 7))
def test_for_ces_more_effort_is_never_better(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert ORDER[segment_of("ces", low)] >= ORDER[segment_of("ces", high)]


def test_the_kinds_are_the_scales_in_one_order() -> None:
    assert KINDS == ("nps", "csat", "ces", "thumbs", "emoji")
    assert tuple(SCALES) == KINDS
    assert SEGMENTS == ("detractor", "passive", "promoter")


@pytest.mark.parametrize("kind", KINDS)
def test_each_scale_reaches_both_ends(kind: Kind) -> None:
    scale = SCALES[kind]
    good, bad = (
        (scale.highest, scale.lowest) if scale.higher_is_better else (scale.lowest, scale.highest)
    )
    assert segment_of(kind, bad) == "detractor"
    assert segment_of(kind, good) == "promoter"
    assert scale.lowest <= min(scale.detractor_edge, scale.promoter_edge)
    assert max(scale.detractor_edge, scale.promoter_edge) <= scale.highest


def test_only_ces_puts_the_good_end_low() -> None:
    assert [kind for kind in KINDS if not SCALES[kind].higher_is_better] == ["ces"]


@pytest.mark.parametrize("value", ["stars", "NPS", "", None, 1, ["nps"], {"kind": "nps"}])
def test_is_kind_refuses_anything_else(value: object) -> None:
    assert not is_kind(value)


def test_is_kind_takes_every_kind() -> None:
    assert all(is_kind(kind) for kind in KINDS)


def test_the_widget_offers_the_same_scores_and_segments() -> None:
    # Half scores too: the edges, not only the whole scores the widget sends, must agree.
    node = shutil.which("node")
    assert node is not None, "node is needed to read sdk-js/src/surveys/targeting.js"
    dumped = subprocess.run(
        [node, "--input-type=module", "-e", _DUMP_WIDGET_TABLE, TARGETING_JS.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    widget = json.loads(dumped)
    python = {
        kind: {
            "scale": [scale.lowest, scale.highest],
            "segments": [
                [half / 2, segment_of(kind, half / 2)]
                for half in range(2 * scale.lowest, 2 * scale.highest + 1)
            ],
        }
        for kind, scale in SCALES.items()
    }
    assert widget == python


_DOC_LABELS = {"nps": "NPS", "csat": "CSAT", "ces": "CES (1 = very easy … 7 = very hard)"}


def _documented_segments(kind: Kind) -> str:
    """A kind's segments as docs/surveys.md states them: "detractor 0–6, passive 7–8, …"."""
    scale = SCALES[kind]
    parts = []
    for segment in SEGMENTS:
        scores = [
            score
            for score in range(scale.lowest, scale.highest + 1)
            if segment_of(kind, score) == segment
        ]
        if scores:
            shown = f"{scores[0]}–{scores[-1]}" if len(scores) > 1 else str(scores[0])
            parts.append(f"{segment} {shown}")
    return f"{_DOC_LABELS.get(kind, kind)} " + ", ".join(parts)


def test_the_surveys_contract_states_the_same_scores_and_segments() -> None:
    text = " ".join(SURVEYS_DOC.read_text(encoding="utf-8").split())
    ranges = " | ".join(
        f"{kind} {scale.lowest}{'/' if scale.highest - scale.lowest == 1 else '–'}{scale.highest}"
        for kind, scale in SCALES.items()
    )
    assert ranges in text
    for kind in KINDS:
        assert _documented_segments(kind) in text, _documented_segments(kind)
