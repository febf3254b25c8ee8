"""Which ratings open an alert, per kind, and how a batch flags them before the database."""

from __future__ import annotations

import msgspec
import pytest

from cxloop.alerts import is_detractor
from cxloop.alerts.model import AlertPatch, NoteInput
from cxloop.projection import prepare_batch
from tests.helpers.events import BASE_US, survey, table

# (kind, scores that open an alert, scores that do not), per docs/surveys.md.
DECISIONS = [
    ("nps", [0, 3, 6], [7, 8, 9, 10]),
    ("csat", [1, 2], [3, 4, 5]),
    ("ces", [5, 6, 7], [1, 2, 3, 4]),  # 7 = very hard: high effort is the bad end
    ("thumbs", [0], [1]),
    ("emoji", [1, 2], [3, 4, 5]),
]


@pytest.mark.parametrize(("kind", "opens", "does_not"), DECISIONS)
def test_alert_decision_per_kind(kind: str, opens: list[int], does_not: list[int]) -> None:
    assert all(is_detractor(kind, score) for score in opens)
    assert not any(is_detractor(kind, score) for score in does_not)


@pytest.mark.parametrize(("kind", "score"), [(None, 0), ("nps", None), ("stars", 1)])
def test_no_alert_without_a_known_kind_and_a_score(kind: str | None, score: float | None) -> None:
    assert not is_detractor(kind, score)


def test_a_batch_flags_responses_with_any_detractor_event() -> None:
    batch = prepare_batch(
        table(
            # Scored 3, then completed with 9: flagged (the alert then resolves itself).
            survey("m1", "changed", score=3, partial=True, at=BASE_US),
            survey("m2", "changed", score=9, comment="fine", at=BASE_US + 5),
            survey("m3", "low", score=1, kind="csat", partial=True),
            survey("m4", "high", score=10),
            survey("m5", "effort", score=6, kind="ces"),
            survey("m6", "other", score=2, project_id="prj_other"),
        )
    )
    project_ids, response_ids, flags = batch.alert_args()
    flagged = {
        (project, response)
        for project, response, flag in zip(project_ids, response_ids, flags, strict=True)
        if flag
    }
    assert flagged == {
        ("prj_test", "changed"),
        ("prj_test", "low"),
        ("prj_test", "effort"),
        ("prj_other", "other"),
    }
    assert len(response_ids) == 5  # one row per response, flagged or not
    assert batch.responses[("prj_test", "changed")].score == 9  # the merged row


def test_patch_and_note_schemas() -> None:
    patch = msgspec.json.decode(b'{"assignee": null}', type=AlertPatch)
    assert patch.assignee is None and patch.status is msgspec.UNSET
    with pytest.raises(msgspec.ValidationError, match="status"):
        msgspec.json.decode(b'{"status": "closed"}', type=AlertPatch)
    with pytest.raises(msgspec.ValidationError, match="priority"):
        msgspec.json.decode(b'{"priority": 1}', type=AlertPatch)
    with pytest.raises(msgspec.ValidationError, match="text"):
        msgspec.json.decode(b'{"author": "li", "text": ""}', type=NoteInput)
