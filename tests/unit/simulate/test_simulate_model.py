"""The account simulator: deterministic, archetypes behave as described, no label in the events."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.simulate.model import (
    ARCHETYPES,
    CSMS,
    DEFAULT_MIX,
    FEATURES,
    KEY_FEATURES,
    Population,
    SimConfig,
    allocate,
    generate,
    is_usage,
)
from cxloop.ingest import survey_response_problem

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)


def population(**overrides: Any) -> Population:
    return generate(SimConfig(**{"accounts": 40, "days": 70, "seed": 7, "now": NOW, **overrides}))


@pytest.fixture(scope="module")
def default_run() -> tuple[Population, list[dict[str, Any]]]:
    """The default mix: every archetype present."""
    pop = population(accounts=45)
    return pop, list(pop.events())


@pytest.fixture(scope="module")
def story_run() -> tuple[Population, list[dict[str, Any]]]:
    """Enough accounts of the archetypes whose story the tests check."""
    pop = population(mix={"declining": 1, "healthy_small": 1, "narrowing": 1, "silent": 1})
    return pop, list(pop.events())


def usage_by_account_day(events: list[dict[str, Any]]) -> dict[str, Counter[int]]:
    out: dict[str, Counter[int]] = defaultdict(Counter)
    for event in events:
        if is_usage(event):
            day = datetime.fromisoformat(event["timestamp"]).date()
            out[event["context"]["groupId"]][(NOW.date() - day).days] += 1
    return out


def test_the_same_seed_gives_the_same_events(default_run: Any) -> None:
    _, events = default_run
    again = list(population(accounts=45).events())
    assert again == events
    other = list(population(accounts=45, seed=8).events())
    assert {e["messageId"] for e in other}.isdisjoint(e["messageId"] for e in events)


def test_day_by_day_and_account_by_account_agree(default_run: Any) -> None:
    _, events = default_run
    fresh = population(accounts=45)
    per_account = [e for account in fresh.accounts for e in fresh.account_events(account)]
    assert sorted(per_account, key=lambda e: e["messageId"]) == sorted(
        events, key=lambda e: e["messageId"]
    )


def test_events_are_segment_shaped_and_in_the_past(default_run: Any) -> None:
    pop, events = default_run
    assert len({e["messageId"] for e in events}) == len(events)
    first_day = datetime.combine(pop.day(pop.config.days - 1), datetime.min.time(), UTC)
    types = Counter(e["type"] for e in events)
    assert set(types) == {"identify", "group", "page", "track"}
    for event in events:
        stamp = datetime.fromisoformat(event["timestamp"])
        assert first_day <= stamp <= NOW and event["timestamp"].endswith("Z")
        assert "sentAt" not in event
        assert event.get("userId")
        if event["type"] == "group":
            assert event["groupId"].startswith("acct_")
        else:
            assert event["context"]["groupId"].startswith("acct_")
        if event["type"] == "track" and event["event"] != "Survey Responded":
            assert event["properties"]["feature"] in {f.name for f in FEATURES}
    per_day = len([e for e in events if is_usage(e)]) / (len(pop.accounts) * pop.config.days)
    assert 5 < per_day < 60, per_day


def test_survey_responses_follow_the_surveys_contract(default_run: Any) -> None:
    _, events = default_run
    responses = [e for e in events if e.get("event") == "Survey Responded"]
    assert {r["properties"]["kind"] for r in responses} == {"nps", "csat", "ces"}
    assert len({r["properties"]["response_id"] for r in responses}) == len(responses)
    comments = [r["properties"]["comment"] for r in responses if "comment" in r["properties"]]
    assert any(c.isascii() for c in comments) and any(not c.isascii() for c in comments)
    for response in responses:
        assert survey_response_problem(json.dumps(response["properties"])) is None
        assert response["properties"]["partial"] is False


def test_the_label_is_not_in_the_events(default_run: Any) -> None:
    pop, events = default_run
    assert {a.archetype for a in pop.accounts} == set(ARCHETYPES)
    text = json.dumps(events).lower()
    assert "churn" not in text and '"status"' not in text
    for name in ARCHETYPES:
        assert name not in text
    for event in events:
        if event["type"] == "group":
            assert set(event["traits"]) <= {"name", "plan", "seats", "mrr", "renewal_date", "csm"}


def test_accounts_have_the_traits_the_console_shows() -> None:
    """mrr by plan and seats, a CSM of the team, and renewals spread over the next year with a
    few renewed in the last 30 days; churners renew within 60 days (churn happens then)."""
    population = generate(SimConfig(accounts=400, days=30, seed=3, now=NOW))
    today = population.today
    owners: set[str] = set()
    renewals: list[int] = []
    for account in population.accounts:
        first_day = population.day_events(account, account.starts_days_ago)
        traits = next(e["traits"] for e in first_day if e["type"] == "group")
        assert traits["csm"] in CSMS
        owners.add(traits["csm"])
        if traits["plan"] == "free":
            assert traits["mrr"] == 0 and "renewal_date" not in traits
            continue
        assert traits["mrr"] >= traits["seats"] * 29 * 0.8
        days = (date.fromisoformat(traits["renewal_date"]) - today).days
        assert -30 <= days <= 365
        if account.churns:
            assert 1 <= days <= 60
        renewals.append(days)
    assert owners == set(CSMS)
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in name) for name in owners)
    past = sum(d < 0 for d in renewals)
    assert 0 < past < 0.1 * len(renewals)
    assert sum(d > 180 for d in renewals) > 0.2 * len(renewals)


def test_mark_churned_is_separate_and_only_for_churners(default_run: Any) -> None:
    pop, _ = default_run
    marks = pop.mark_churned()
    churners = {a.account_id for a in pop.accounts if a.churns}
    assert {m["groupId"] for m in marks} == churners
    assert all(m["traits"] == {"status": "churned"} for m in marks)


def test_archetype_counts_follow_the_mix(default_run: Any) -> None:
    pop, _ = default_run
    counts = Counter(a.archetype for a in pop.accounts)
    assert counts == Counter(allocate(DEFAULT_MIX, 45))
    churners = sum(a.churns for a in pop.accounts)
    assert churners == sum(n for k, n in allocate(DEFAULT_MIX, 45).items() if ARCHETYPES[k].churns)


@given(
    st.dictionaries(st.sampled_from(sorted(ARCHETYPES)), st.floats(0.01, 10), min_size=1),
    st.integers(1, 2000),
)
def test_allocation_is_exact_and_proportional(mix: dict[str, float], total: int) -> None:
    counts = allocate(mix, total)
    assert sum(counts.values()) == total
    weight = sum(mix.values())
    for name, share in mix.items():
        assert abs(counts[name] - total * share / weight) < 1


def test_unknown_archetypes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown archetype"):
        allocate({"zombie": 1.0}, 10)


def test_declining_churners_use_less_in_the_last_three_weeks(story_run: Any) -> None:
    pop, events = story_run
    usage = usage_by_account_day(events)
    declining = [a for a in pop.accounts if a.archetype == "declining"]
    assert len(declining) == 10
    totals = [0.0, 0.0]
    for account in declining:
        days = usage[account.account_id]
        recent = sum(days[k] for k in range(21)) / 21
        baseline = sum(days[k] for k in range(42, 70)) / 28
        assert recent < baseline, (account.account_id, recent, baseline)
        totals = [totals[0] + recent, totals[1] + baseline]
    assert totals[0] < 0.7 * totals[1]


def test_narrowing_churners_use_fewer_features_at_a_similar_volume(story_run: Any) -> None:
    pop, events = story_run
    features: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for event in events:
        if event["type"] == "track" and event["event"] != "Survey Responded":
            age = (NOW.date() - datetime.fromisoformat(event["timestamp"]).date()).days
            window = "last_week" if age < 7 else "before" if age >= 42 else "between"
            features[event["context"]["groupId"]][window].add(event["properties"]["feature"])
    usage = usage_by_account_day(events)
    narrowing = [a for a in pop.accounts if a.archetype == "narrowing"]
    for account in narrowing:
        used = features[account.account_id]
        assert len(used["last_week"]) <= 3 < len(used["before"])
    # Volume: the same three weeks against three weeks before the story starts.
    recent = sum(usage[a.account_id][k] for a in narrowing for k in range(21))
    before = sum(usage[a.account_id][k] for a in narrowing for k in range(42, 63))
    assert 0.7 < recent / before < 1.3


def test_healthy_small_accounts_use_most_of_their_seats(story_run: Any) -> None:
    pop, events = story_run
    active: dict[str, set[str]] = defaultdict(set)
    since = NOW - timedelta(days=30)
    for event in events:
        if is_usage(event) and datetime.fromisoformat(event["timestamp"]) >= since:
            active[event["context"]["groupId"]].add(event["userId"])
    small = [a for a in pop.accounts if a.archetype == "healthy_small"]
    silent = [a for a in pop.accounts if a.archetype == "silent"]
    for account in small:
        assert account.traits["seats"] <= 4
        assert len(active[account.account_id]) / account.traits["seats"] >= 0.75
    silent_use = [len(active[a.account_id]) / a.traits["seats"] for a in silent]
    assert sum(silent_use) / len(silent_use) < 0.5


def test_the_holiday_dips_everyone(default_run: Any) -> None:
    pop, events = default_run
    holiday = pop.holiday_days_ago
    assert 3 <= len(holiday) <= 5 and all(12 <= k <= 21 for k in holiday)
    usage = usage_by_account_day(events)
    # Against the same weekdays one week before and one week after.
    on = {a: sum(usage[a][k] for k in holiday) for a in usage}
    around = {a: sum(usage[a][k - 7] + usage[a][k + 7] for k in holiday) / 2 for a in usage}
    assert 0.25 < sum(on.values()) / sum(around.values()) < 0.55
    busy = [a for a in usage if around[a] >= 50]  # where a dip is not lost in Poisson noise
    assert len(busy) >= 8
    for account in busy:
        assert on[account] < 0.8 * around[account], account


def test_key_features_are_a_subset_of_the_product() -> None:
    assert len(FEATURES) == 12 and 4 <= len(KEY_FEATURES) <= 8
    assert FEATURES[0].key  # every account uses the first feature
