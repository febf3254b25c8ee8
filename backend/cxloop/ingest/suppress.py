"""Events of deleted subjects, taken out of a request before it is logged.

Only a project with a suppressed subject gets here (``SuppressionList.active``). Each event's
ids as sent (userId, anonymousId, previousId, groupId, its own and the batch's
``context.groupId``) are looked up by digest; a request naming a suppressed subject is logged
without those events (the body re-encoded, every other member as sent), and its ack lists them
as rejected with reason ``subject_deleted``, so no library retries them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from cxloop.ingest.check import CheckedRequest, check_request
from cxloop.ingest.enrich import _derived_message_id
from cxloop.ingest.parse import Limits
from cxloop.ingest.validate import Rejection
from cxloop.projects import SuppressionList

__all__ = ["SUBJECT_DELETED", "Suppressed", "suppress_subjects"]

SUBJECT_DELETED = "subject_deleted"
SUBJECT_DELETED_DETAIL = (
    "the subject of this event (its userId, anonymousId or account) was deleted at the "
    "project's request: the event is not stored; do not send it again"
)

_members_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_any_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class Suppressed:
    """A request with a suppressed subject's events taken out.

    ``checked`` is the request to log (None: nothing left), ``kept`` the original index of each
    event it holds, ``rejections`` one ``subject_deleted`` rejection per event taken out.
    """

    checked: CheckedRequest | None
    kept: list[int] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def verdict(self, project_id: str, limits: Limits) -> tuple[int, list[Rejection]]:
        """The ack's (accepted, rejected), indices as in the request received."""
        if self.checked is None:
            return 0, list(self.rejections)
        accepted, rejected = self.checked.verdict(project_id, limits)
        moved = [Rejection(self.kept[r.index], r.messageId, r.reason, r.detail) for r in rejected]
        return accepted, sorted([*moved, *self.rejections], key=lambda r: r.index)


def suppress_subjects(
    checked: CheckedRequest, project_id: str, suppressions: SuppressionList, limits: Limits
) -> Suppressed | None:
    """The request without the events of suppressed subjects; None when it holds none."""
    if checked.route_type is not None:
        if not suppressions.matches_raw(project_id, checked.body):
            return None
        return Suppressed(None, [], [_rejection(project_id, 0, msgspec.Raw(checked.body))])
    named = suppressions.named_in_batch(project_id, checked.body)
    if named is not None and not any(named):  # the usual case: one decode, nothing to do
        return None
    envelope = _members_decoder.decode(checked.body)
    events = _raw_list_decoder.decode(envelope["batch"])
    if named is None:  # event by event: some event or context is not an object
        batch_context = _batch_context(envelope.get("context"))
        named = [suppressions.matches_raw(project_id, bytes(raw), batch_context) for raw in events]
    kept: list[int] = []
    rejections: list[Rejection] = []
    for index, (raw, is_named) in enumerate(zip(events, named, strict=True)):
        if is_named:
            rejections.append(_rejection(project_id, index, raw))
        else:
            kept.append(index)
    if not rejections:
        return None
    if not kept:
        return Suppressed(None, [], rejections)
    envelope["batch"] = msgspec.Raw(_encoder.encode([events[index] for index in kept]))
    rechecked = check_request(_encoder.encode(envelope), None, limits)
    rechecked.has_ip = checked.has_ip and rechecked.has_ip
    return Suppressed(rechecked, kept, rejections)


def _batch_context(raw: msgspec.Raw | None) -> object:
    """The batch's context as far as accounts go: ``{"groupId": …}``, or None."""
    if raw is None:
        return None
    try:
        group = _members_decoder.decode(raw).get("groupId")
        return {"groupId": _any_decoder.decode(group)} if group is not None else None
    except (msgspec.DecodeError, RecursionError):
        return None


def _rejection(project_id: str, index: int, raw: msgspec.Raw) -> Rejection:
    message_id: str | None = None
    try:
        value = _members_decoder.decode(raw).get("messageId")
        decoded = _any_decoder.decode(value) if value is not None else None
        if isinstance(decoded, str) and decoded:
            message_id = decoded
    except (msgspec.DecodeError, RecursionError):
        pass
    return Rejection(
        index=index,
        messageId=message_id or _derived_message_id(project_id, raw),
        reason=SUBJECT_DELETED,
        detail=SUBJECT_DELETED_DETAIL,
    )
