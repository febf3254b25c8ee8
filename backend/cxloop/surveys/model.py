"""Survey definitions as the API accepts them, validated with messages that say what to fix.

The contract (shared with the browser widget) is ``docs/surveys.md``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from cxloop.surveys.ratings import SEGMENTS, Kind

__all__ = [
    "LOCALES",
    "AccountCap",
    "Filter",
    "Filters",
    "FollowUp",
    "Frequency",
    "SurveyInput",
    "SurveyPatch",
    "Trigger",
    "validate_survey",
]

LOCALES = ("en", "zh-CN", "zh-TW")
MAX_TEXT = 500
Texts = dict[str, str]
Op = Literal["eq", "neq", "in", "nin", "gt", "gte", "lt", "lte", "exists", "not_exists", "contains"]


class FollowUp(msgspec.Struct, forbid_unknown_fields=True):
    default: Texts
    detractor: Texts | None = None
    passive: Texts | None = None
    promoter: Texts | None = None


class Trigger(msgspec.Struct, forbid_unknown_fields=True):
    event: str | None = None
    url: str | None = None
    min_page_views: int = 0
    min_sessions: int = 0
    delay_ms: int = 0


class Filter(msgspec.Struct, forbid_unknown_fields=True):
    trait: str
    op: Op
    value: Any = None


class Filters(msgspec.Struct, forbid_unknown_fields=True):
    user: list[Filter] = msgspec.field(default_factory=list)
    account: list[Filter] = msgspec.field(default_factory=list)


class Frequency(msgspec.Struct, forbid_unknown_fields=True):
    mode: Literal["once", "until_answered", "recurring"] = "until_answered"
    every_days: int | None = None


class AccountCap(msgspec.Struct, forbid_unknown_fields=True):
    max_responses: int
    period_days: int


class SurveyInput(msgspec.Struct, forbid_unknown_fields=True):
    """A whole survey definition (create, or replace with PUT)."""

    name: str
    kind: Kind
    question: Texts
    follow_up: FollowUp | None = None
    feature: str | None = None
    trigger: Trigger = msgspec.field(default_factory=Trigger)
    filters: Filters = msgspec.field(default_factory=Filters)
    sample_percent: float = 100
    frequency: Frequency = msgspec.field(default_factory=Frequency)
    account_cap: AccountCap | None = None
    placement: Literal["popover", "modal", "inline"] = "popover"
    inline_selector: str | None = None


class SurveyPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Some fields of a definition (PATCH); the merged result is validated as a whole."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    kind: Kind | msgspec.UnsetType = msgspec.UNSET
    question: Texts | msgspec.UnsetType = msgspec.UNSET
    follow_up: FollowUp | msgspec.UnsetType | None = msgspec.UNSET
    feature: str | msgspec.UnsetType | None = msgspec.UNSET
    trigger: Trigger | msgspec.UnsetType = msgspec.UNSET
    filters: Filters | msgspec.UnsetType = msgspec.UNSET
    sample_percent: float | msgspec.UnsetType = msgspec.UNSET
    frequency: Frequency | msgspec.UnsetType = msgspec.UNSET
    account_cap: AccountCap | msgspec.UnsetType | None = msgspec.UNSET
    placement: Literal["popover", "modal", "inline"] | msgspec.UnsetType = msgspec.UNSET
    inline_selector: str | msgspec.UnsetType | None = msgspec.UNSET


_LIST_OPS = {"in", "nin"}
_NUMBER_OPS = {"gt", "gte", "lt", "lte"}
_NO_VALUE_OPS = {"exists", "not_exists"}
_URL_GLOB = re.compile(r"^[^\s]{1,500}$")


def _texts_problems(texts: Texts, where: str) -> list[str]:
    problems = []
    if not texts:
        problems.append(f'{where} needs at least one text, e.g. {{"en": "..."}}')
    for locale, text in texts.items():
        if locale not in LOCALES:
            problems.append(
                f"{where}: locale {locale!r} is not supported; use one of {', '.join(LOCALES)}"
            )
        if not text.strip():
            problems.append(f"{where}.{locale} is empty")
        elif len(text) > MAX_TEXT:
            problems.append(f"{where}.{locale} is {len(text)} characters; at most {MAX_TEXT}")
    return problems


def validate_survey(survey: SurveyInput) -> list[str]:
    """Everything wrong with a definition, as sentences; empty when it is valid."""
    problems: list[str] = []
    if not survey.name.strip() or len(survey.name) > 200:
        problems.append("name must be 1 to 200 characters")
    problems += _texts_problems(survey.question, "question")
    if survey.follow_up is not None:
        for segment in ("default", *SEGMENTS):
            texts = getattr(survey.follow_up, segment)
            if texts is not None:
                problems += _texts_problems(texts, f"follow_up.{segment}")
    if survey.feature is not None and not 0 < len(survey.feature) <= 200:
        problems.append("feature must be 1 to 200 characters (or omitted)")
    trigger = survey.trigger
    if trigger.event is not None and not 0 < len(trigger.event) <= 200:
        problems.append("trigger.event must be 1 to 200 characters (or omitted)")
    if trigger.url is not None and not _URL_GLOB.match(trigger.url):
        problems.append("trigger.url must be a path glob without spaces, e.g. '/app/reports*'")
    for name in ("min_page_views", "min_sessions"):
        if not 0 <= getattr(trigger, name) <= 10_000:
            problems.append(f"trigger.{name} must be from 0 to 10000")
    if not 0 <= trigger.delay_ms <= 600_000:
        problems.append("trigger.delay_ms must be from 0 to 600000 (10 minutes)")
    for scope in ("user", "account"):
        for index, rule in enumerate(getattr(survey.filters, scope)):
            where = f"filters.{scope}[{index}]"
            if not rule.trait:
                problems.append(f"{where}.trait must not be empty")
            if rule.op in _LIST_OPS and not isinstance(rule.value, list):
                problems.append(f"{where}: op {rule.op!r} needs a list value")
            elif rule.op in _NUMBER_OPS and (
                not isinstance(rule.value, int | float) or isinstance(rule.value, bool)
            ):
                problems.append(f"{where}: op {rule.op!r} needs a number value")
            elif rule.op in _NO_VALUE_OPS and rule.value is not None:
                problems.append(f"{where}: op {rule.op!r} takes no value")
            elif rule.op == "contains" and not isinstance(rule.value, str):
                problems.append(f"{where}: op 'contains' needs a string value")
            elif rule.op in ("eq", "neq") and (rule.value is None or isinstance(rule.value, dict)):
                problems.append(f"{where}: op {rule.op!r} needs a string, number or boolean")
    if not 0 <= survey.sample_percent <= 100:
        problems.append("sample_percent must be from 0 to 100")
    frequency = survey.frequency
    if frequency.mode == "recurring":
        if frequency.every_days is None or not 1 <= frequency.every_days <= 3650:
            problems.append("frequency.every_days must be from 1 to 3650 for mode 'recurring'")
    elif frequency.every_days is not None:
        problems.append(
            f"frequency.every_days only applies to mode 'recurring', not {frequency.mode!r}"
        )
    if survey.account_cap is not None:
        cap = survey.account_cap
        if not 1 <= cap.max_responses <= 100_000 or not 1 <= cap.period_days <= 3650:
            problems.append(
                "account_cap needs max_responses from 1 to 100000 and period_days from 1 to 3650"
            )
    if survey.placement == "inline":
        if not survey.inline_selector or len(survey.inline_selector) > 200:
            problems.append("placement 'inline' needs inline_selector (a CSS selector)")
    elif survey.inline_selector is not None:
        problems.append("inline_selector only applies to placement 'inline'")
    return problems
