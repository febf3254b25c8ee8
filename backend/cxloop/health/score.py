"""The health score of one account from its usage and feedback: pure functions (docs/health.md).

Every component keeps its raw value, its 0–100 normalisation, its weight and its contribution,
so the score explains itself; drivers turn the biggest contributions into sentences.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

from cxloop.surveys import adjusted_wald  # the one definition (surveys.intervals)

__all__ = [
    "DEFAULT_WEIGHTS",
    "AccountInputs",
    "Component",
    "Health",
    "HealthConfig",
    "Measure",
    "ProjectNorms",
    "Words",
    "adjusted_wald",
    "band_of",
    "confidence_of",
    "measure_adoption",
    "measure_depth",
    "measure_feedback",
    "measure_recency",
    "measure_trend",
    "measure_utilisation",
    "penalised",
    "score_account",
    "weigh",
    "words_cap",
]

DEFAULT_WEIGHTS: dict[str, float] = {
    "adoption": 0.20,
    "utilisation": 0.20,
    "depth": 0.15,
    "trend": 0.20,
    "recency": 0.10,
    "feedback": 0.15,
}

# Usage windows, in days before T.
RECENT_DAYS = 14  # the recent usage the trend compares
BASELINE_DAYS = 42  # the baseline before it (days 15–56)
ACTIVE_WINDOW_DAYS = 28  # the window depth counts active days in
# The 0–100 scale: the middle is "as usual" (the baseline, the median account, neutral feedback).
NEUTRAL = 50.0
FULL = 100.0
# Against the median account, this multiple earns the full share of points (more adds
# nothing, so the component stays within 0–100).
RATIO_CAP = 2.0
# Depth: active on this many of the 28 days is full marks for regularity.
FULL_ACTIVE_DAYS = 20
# Depth with a project median: the account's own regularity and stickiness count this many
# times as much as its actions per user-day against the median account.
OWN_DEPTH_SHARE = 2
# Trend: a Poisson z beyond this is "significant"; a breadth ratio below this is "narrowing".
SIGNIFICANT_Z = 2
NARROWING_BELOW = 0.75
# Recency: 100 on the day of activity, falling by a factor e every this many days.
RECENCY_DECAY_DAYS = 7
# Feedback: each open detractor alert costs this many points, up to the cap.
POINTS_PER_OPEN_ALERT = 5
MAX_OPEN_ALERT_POINTS = 15
# Feedback from the words of comments (docs/health.md, "What the comments say"): the window
# in which a comment saying the account is leaving, or naming a competitor, counts.
WORDS_WINDOW_DAYS = 90
# Confidence is low with less history or fewer active users than this, or when more than
# one component is missing.
MIN_HISTORY_DAYS = 14
MIN_ACTIVE_USERS = 3


class HealthConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Per-project settings; every field has a default that works without configuration."""

    key_features: list[str] | None = None  # None: the 10 features most accounts use
    weights: dict[str, float] = msgspec.field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    # An account that is typical in every respect (at the project's median, no change, active,
    # neutral feedback) scores about 60-65 by construction: green is "at least typical".
    green_at: float = 60.0
    yellow_at: float = 40.0
    drop_threshold: float = 15.0  # points lost since the previous snapshot for health.dropped
    # The feedback component also reads the comments' analysis (sentiment, churn intent,
    # competitors; docs/health.md). Off: ratings and open alerts only, as before issue 15.
    feedback_text: bool = True


@dataclass(slots=True)
class AccountInputs:
    """What the rollups and the feedback tables say about one account as of day T."""

    account_id: str
    seats: int | None
    history_days: int  # days since the account's first activity
    users_30: int  # distinct active users, last 30 days
    users_7: int  # last 7 days
    active_days_28: int
    events_recent: int  # last 14 days
    events_baseline: int  # days 15–56 before T (42 days)
    days_since_active: int | None  # None: no activity in the window
    features_30: set[str] = field(default_factory=set)
    breadth_recent: int = 0  # distinct features used in the last 14 days
    breadth_baseline: int = 0  # in days 15–56 before T
    user_days_28: int = 0  # (user, day) pairs with activity in the last 28 days
    events_28: int = 0  # events in the last 28 days
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    open_alerts: int = 0
    # Of them, alerts opened only for what a comment said (churn intent, a competitor), not
    # for a detractor score: without the words (feedback_text off) they do not count either.
    open_alerts_from_words: int = 0
    words: Words | None = None  # what the analysed comments say; None: none analysed


@dataclass(frozen=True, slots=True)
class Words:
    """What the account's analysed comments say (docs/health.md, "What the comments say").

    ``promoters``/``passives``/``detractors`` are the same responses as the account's ratings,
    each in the worse of the segment its score gives and the one its words give (negative words
    make a detractor, mixed words at most a passive), so a polite 8 above a complaint counts as
    the complaint it is."""

    comments: int = 0  # analysed comments among the rated responses (180 days)
    negative: int = 0  # of them, negative
    disagreeing: int = 0  # negative words above a passive or promoter score
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    churn_intent: int = 0  # comments saying the account is leaving, last 90 days
    competitor_comments: int = 0  # comments naming a configured competitor, last 90 days
    competitors: tuple[str, ...] = ()  # the competitors named, last 90 days


@dataclass(frozen=True, slots=True)
class ProjectNorms:
    """What the project's median account does: what every account shares, so a holiday or a
    short window is not read as one account's news, and "idle" means idle against peers."""

    trend_ratio: float = 1.0  # recent / baseline events per day
    breadth_ratio: float = 1.0  # recent / baseline distinct features
    user_days_per_seat: float = 0.0  # active user-days in 28 days per seat (0: unknown)
    actions_per_user_day: float = 0.0  # events per active user-day in 28 days (0: unknown)

    @classmethod
    def of(cls, inputs: list[AccountInputs]) -> ProjectNorms:
        def median(values: list[float], default: float) -> float:
            return statistics.median(values) if values else default

        return cls(
            trend_ratio=median(
                [
                    (i.events_recent / RECENT_DAYS) / (i.events_baseline / BASELINE_DAYS)
                    for i in inputs
                    if i.events_baseline
                ],
                1.0,
            ),
            breadth_ratio=median(
                [i.breadth_recent / i.breadth_baseline for i in inputs if i.breadth_baseline],
                1.0,
            ),
            user_days_per_seat=median(
                [i.user_days_28 / i.seats for i in inputs if i.seats and i.user_days_28], 0.0
            ),
            actions_per_user_day=median(
                [i.events_28 / i.user_days_28 for i in inputs if i.user_days_28], 0.0
            ),
        )


class Component(msgspec.Struct):
    name: str
    raw: float | None
    normalised: float
    weight: float
    contribution: float
    detail: dict[str, Any]


class Health(msgspec.Struct):
    account_id: str
    score: float
    band: str
    confidence: str
    components: list[Component]
    drivers: list[str]


class Measure(NamedTuple):
    """One component before weighting: its raw value, its 0–100 value and the numbers behind it."""

    name: str
    raw: float | None
    normalised: float
    detail: dict[str, Any]


def _clamp(value: float, low: float = 0.0, high: float = FULL) -> float:
    return max(low, min(high, value))


def _log_ratio_score(adjusted: float) -> float:
    """50 at the baseline, 0 at half of it, 100 at twice it."""
    return _clamp(NEUTRAL + NEUTRAL * math.log2(max(adjusted, 1e-9)))


def _volume_trend(
    inputs: AccountInputs, project_ratio: float
) -> tuple[float | None, float, dict[str, Any]]:
    recent_rate = inputs.events_recent / RECENT_DAYS
    baseline_rate = inputs.events_baseline / BASELINE_DAYS
    if inputs.events_baseline == 0:
        return None, NEUTRAL, {"reason": "no baseline yet"}
    ratio = recent_rate / baseline_rate
    adjusted = ratio / project_ratio if project_ratio > 0 else ratio
    # Poisson test of the recent count against the baseline rate scaled by the project's
    # shared movement (a holiday dip everyone has is expected, not a decline).
    expected = baseline_rate * RECENT_DAYS * (project_ratio if project_ratio > 0 else 1.0)
    z = (inputs.events_recent - expected) / math.sqrt(expected) if expected > 0 else 0.0
    detail = {"ratio": round(ratio, 3), "adjusted_ratio": round(adjusted, 3),
              "z": round(z, 2), "significant": abs(z) > SIGNIFICANT_Z}  # fmt: skip
    return adjusted, _log_ratio_score(adjusted), detail


def measure_adoption(inputs: AccountInputs, key_features: list[str]) -> Measure | None:
    """The share of the key features used in 30 days; None without key features."""
    if not key_features:
        return None
    used = sorted(inputs.features_30 & set(key_features))
    breadth = len(used) / len(key_features)
    return Measure("adoption", breadth, _clamp(FULL * breadth),
                   {"used": used, "key_features": len(key_features)})  # fmt: skip


def measure_utilisation(inputs: AccountInputs, norms: ProjectNorms) -> Measure | None:
    """Monthly active users per seat, and with a project median how often the seats are used
    against the median account's; None without a seats trait."""
    if not inputs.seats:
        return None
    utilisation = inputs.users_30 / inputs.seats
    normalised = FULL * utilisation
    detail: dict[str, Any] = {"active_users_30d": inputs.users_30, "seats": inputs.seats}
    if norms.user_days_per_seat > 0:
        # Monthly actives per seat, and how many of the seats' days were used against the
        # median account: seats held by people who rarely log in are idle seats.
        daily = inputs.user_days_28 / inputs.seats / norms.user_days_per_seat
        normalised = NEUTRAL * min(1.0, utilisation) + NEUTRAL / RATIO_CAP * min(RATIO_CAP, daily)
        detail["user_days_vs_median"] = round(daily, 3)
    return Measure("utilisation", utilisation, _clamp(normalised), detail)


def measure_depth(inputs: AccountInputs, norms: ProjectNorms) -> Measure:
    """Regularity (active days) and stickiness (weekly over monthly users), and with a project
    median the actions per active user-day against the median account's."""
    stickiness = inputs.users_7 / inputs.users_30 if inputs.users_30 else 0.0
    depth = NEUTRAL * min(1.0, inputs.active_days_28 / FULL_ACTIVE_DAYS) + NEUTRAL * stickiness
    detail: dict[str, Any] = {
        "active_days_28d": inputs.active_days_28,
        "wau_mau": round(stickiness, 3),
    }
    if norms.actions_per_user_day > 0:
        # How much each active user does on a day they show up, against the median account.
        intensity = (
            inputs.events_28 / inputs.user_days_28 / norms.actions_per_user_day
            if inputs.user_days_28
            else 0.0
        )
        depth = (OWN_DEPTH_SHARE * depth + NEUTRAL * min(RATIO_CAP, intensity)) / (
            OWN_DEPTH_SHARE + 1
        )
        detail["actions_vs_median"] = round(intensity, 3)
    return Measure("depth", inputs.active_days_28 / ACTIVE_WINDOW_DAYS, _clamp(depth), detail)


def measure_trend(inputs: AccountInputs, norms: ProjectNorms) -> Measure | None:
    """Recent usage against the account's own baseline, relative to the project's shared
    movement: the worse of volume and feature breadth. None without a baseline."""
    raw, normalised, detail = _volume_trend(inputs, norms.trend_ratio)
    if raw is None:
        return None
    if inputs.breadth_baseline:
        # Narrowing: fewer features lately than the account used to touch, against what a
        # shorter window shows for the median account. The worse of volume and breadth
        # is the trend: either one falling is a decline.
        ratio = inputs.breadth_recent / inputs.breadth_baseline
        adjusted = ratio / norms.breadth_ratio if norms.breadth_ratio > 0 else ratio
        breadth_normalised = _log_ratio_score(adjusted)
        detail |= {"features_recent": inputs.breadth_recent,
                   "features_before": inputs.breadth_baseline,
                   "breadth_ratio": round(adjusted, 3),
                   "narrowing": adjusted < NARROWING_BELOW}  # fmt: skip
        detail["set_by"] = "breadth" if breadth_normalised < normalised else "volume"
        normalised = min(normalised, breadth_normalised)
    return Measure("trend", raw, normalised, detail)


def measure_recency(inputs: AccountInputs) -> Measure:
    """Days since the last activity, decaying from 100; 0 with no activity in the window."""
    days = inputs.days_since_active
    recency = FULL * math.exp(-days / RECENCY_DECAY_DAYS) if days is not None else 0.0
    return Measure("recency", days, recency, {"days_since_active": days})


def measure_feedback(inputs: AccountInputs, text: bool = True) -> Measure | None:
    """Promoters against detractors (adjusted Wald), less points for open alerts; None with
    neither answers nor open alerts. With ``text`` and analysed comments, each response counts
    in the worse of its score's segment and its words' segment, and a comment saying the
    account is leaving (or naming a competitor) in the last 90 days caps the component in
    the red (docs/health.md, "What the comments say")."""
    answers = inputs.promoters + inputs.passives + inputs.detractors
    alerts = inputs.open_alerts if text else inputs.open_alerts - inputs.open_alerts_from_words
    if not answers and not alerts:
        return None
    words = inputs.words if text else None
    promoters, passives, detractors = inputs.promoters, inputs.passives, inputs.detractors
    if words is not None and words.comments:
        promoters, passives, detractors = words.promoters, words.passives, words.detractors
    adjusted, half_width = adjusted_wald(promoters, passives, detractors)
    # Open alerts repeat what the ratings say; they weigh a little, until someone acts.
    penalty = min(MAX_OPEN_ALERT_POINTS, POINTS_PER_OPEN_ALERT * alerts)
    normalised = _clamp(NEUTRAL + NEUTRAL * adjusted - penalty)
    detail: dict[str, Any] = {"responses": answers, "promoters": inputs.promoters,
                              "detractors": inputs.detractors, "interval": round(half_width, 3),
                              "open_alerts": alerts}  # fmt: skip
    if words is not None:
        normalised = min(normalised, words_cap(words))
        detail["words"] = {
            "comments": words.comments,
            "negative": words.negative,
            "disagreeing": words.disagreeing,
            "promoters": words.promoters,
            "detractors": words.detractors,
            "churn_intent_90d": words.churn_intent,
            "competitor_comments_90d": words.competitor_comments,
            "competitors_90d": list(words.competitors),
        }
    return Measure("feedback", adjusted, normalised, detail)


def words_cap(words: Words) -> float:
    """The most the feedback component can be worth once comments said this: a customer who
    writes that they are leaving has said more than any rating can, so one such comment puts
    feedback at half the red floor and two or more at 0; naming a competitor without saying
    they leave means they are comparing: feedback is at most neutral."""
    if words.churn_intent >= 2:
        return 0.0
    if words.churn_intent == 1:
        return RED_FLOOR / 2
    if words.competitor_comments:
        return NEUTRAL
    return FULL


# Non-compensatory aggregation: below this a component counts (1 + RED_PENALTY)-fold per
# point, so one signal in the red (a decline, narrowing feature use, idle seats, detractors)
# is not averaged away by healthy numbers elsewhere (decision 25 in ARCHITECTURE.md).
RED_FLOOR = 30.0
RED_PENALTY = 4.0


def penalised(normalised: float) -> float:
    """A component's value as the score counts it: points below RED_FLOOR count five-fold."""
    return normalised - RED_PENALTY * max(0.0, RED_FLOOR - normalised)


def weigh(measures: list[Measure], weights: dict[str, float]) -> list[Component]:
    """Components with their weights renormalised over the measures the account has, and
    their contributions (which add up to the score before clamping)."""
    total_weight = sum(weights.get(m.name, 0.0) for m in measures) or 1.0
    components = []
    for name, raw, normalised, detail in measures:
        weight = weights.get(name, 0.0) / total_weight
        components.append(
            Component(
                name,
                raw,
                round(normalised, 2),
                round(weight, 4),
                round(weight * penalised(normalised), 2),
                detail,
            )
        )
    return components


def band_of(score: float, config: HealthConfig) -> str:
    """green, yellow or red, at the project's thresholds."""
    return "green" if score >= config.green_at else "yellow" if score >= config.yellow_at else "red"


def confidence_of(inputs: AccountInputs, measures: list[Measure]) -> str:
    """low with little history, few active users or more than one component missing."""
    thin = (
        inputs.history_days < MIN_HISTORY_DAYS
        or inputs.users_30 < MIN_ACTIVE_USERS
        or len(measures) < len(DEFAULT_WEIGHTS) - 1
    )
    return "low" if thin else "normal"


def score_account(
    inputs: AccountInputs,
    config: HealthConfig,
    key_features: list[str],
    norms: ProjectNorms = ProjectNorms(),
) -> Health:
    """The account's health as of T: components, overall score, band, confidence, drivers."""
    candidates = (
        measure_adoption(inputs, key_features),
        measure_utilisation(inputs, norms),
        measure_depth(inputs, norms),
        measure_trend(inputs, norms),
        measure_recency(inputs),
        measure_feedback(inputs, text=config.feedback_text),
    )
    measures = [m for m in candidates if m is not None]
    components = weigh(measures, {**DEFAULT_WEIGHTS, **config.weights})
    score = round(_clamp(sum(c.contribution for c in components)), 1)
    return Health(
        account_id=inputs.account_id,
        score=score,
        band=band_of(score, config),
        confidence=confidence_of(inputs, measures),
        components=components,
        drivers=drivers(components),
    )


def describe(component: Component) -> str:
    """One sentence a CS manager understands."""
    d = component.detail
    name = component.name
    if name == "adoption":
        return f"{len(d['used'])} of {d['key_features']} key features used in the last 30 days"
    if name == "utilisation":
        text = f"{d['active_users_30d']} active users for {d['seats']} licensed seats in 30 days"
        if "user_days_vs_median" in d:
            text += (
                f"; seats in use {_times(d['user_days_vs_median'])} as often as the median account"
            )
        return text
    if name == "depth":
        text = (f"active on {d['active_days_28d']} of the last 28 days; "
                f"{round(100 * d['wau_mau'])}% of monthly users were active this week")  # fmt: skip
        if "actions_vs_median" in d:
            text += f"; {_times(d['actions_vs_median'])} the median account's actions per user-day"
        return text
    if name == "trend":
        if d.get("set_by") == "breadth" and d.get("narrowing"):
            return (f"feature use narrowing: {d['features_recent']} features in the last 2 weeks, "
                    f"{d['features_before']} in the 6 weeks before")  # fmt: skip
        change = round(100 * (d["adjusted_ratio"] - 1))
        word = "up" if change >= 0 else "down"
        note = "" if d["significant"] else " (within normal variation)"
        return f"usage {word} {abs(change)}% against its own baseline{note}"
    if name == "recency":
        days = d["days_since_active"]
        return "no activity in 90 days" if days is None else f"last active {days} days ago"
    note = f", {d['open_alerts']} open alert(s)" if d["open_alerts"] else ""
    text = (f"feedback: {d['promoters']} promoters, {d['detractors']} detractors in "
            f"{d['responses']} responses{note}")  # fmt: skip
    words = d.get("words")
    return text + "".join(f"; {said}" for said in _said(words)) if words else text


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _said(words: dict[str, Any]) -> list[str]:
    """What the comments said, in words, strongest first."""
    out = []
    if words["churn_intent_90d"]:
        n = words["churn_intent_90d"]
        out.append(
            f"{_plural(n, 'comment', 'comments')} in the last 90 days "
            f"{'says' if n == 1 else 'say'} they are switching tools or not renewing "
            "(churn intent)"
        )
    if words["competitors_90d"]:
        out.append(f"competitors named in the last 90 days: {', '.join(words['competitors_90d'])}")
    if words["disagreeing"]:
        out.append(
            f"{words['disagreeing']} of {_plural(words['comments'], 'comment', 'comments')} "
            "negative although the score was passive or better"
        )
    elif words["negative"]:
        out.append(
            f"{words['negative']} of {_plural(words['comments'], 'comment', 'comments')} negative"
        )
    return out


def _times(ratio: float) -> str:
    return f"{ratio:.1f}×"


def drivers(components: list[Component], limit: int = 3) -> list[str]:
    """The components that pull the score furthest from neutral, worst first."""
    ranked = sorted(components, key=lambda c: c.weight * (c.normalised - 50))
    pulls = [c for c in ranked if abs(c.normalised - 50) >= 10][:limit]
    return [("▼ " if c.normalised < 50 else "▲ ") + describe(c) for c in pulls]
