"""The simulator's comments: wording follows the mood, voiced accounts are polite in numbers and
unhappy in words (and some say they are leaving), three languages, deterministic."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.simulate.model import DEFAULT_MIX, SimConfig, generate
from cxloop.demo.simulation import comments
from cxloop.text import normalise

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)
CJK = re.compile(r"[\u4e00-\u9fff]")
FEATURES = ["dashboards", "reports", "exports", "integrations"]


def pool_of(locale: str, text: str) -> set[str]:
    """Which template pools a comment could have come from (tested through the filled text)."""
    templates = comments._TEMPLATES[locale]
    found = set()
    for pool, items in templates.items():
        for template in items:
            pattern = re.escape(template)
            for slot in ("f", "F", "g", "m", "c"):
                pattern = pattern.replace(re.escape("{" + slot + "}"), ".+?")
            if re.fullmatch(pattern, text):
                found.add(pool)
    return found


@pytest.mark.parametrize("locale", comments.LOCALES)
def test_every_template_fills_and_is_recognisable(locale: str) -> None:
    rng = random.Random(1)
    for tone in comments.TONES:
        for _ in range(60):
            text = comments.write(rng, locale, tone, rng.choice([None, *FEATURES]), FEATURES)
            assert "{" not in text and text.strip()
            assert tone in pool_of(locale, text), text
    for _ in range(30):
        text = comments.write(rng, locale, "positive", "reports", FEATURES, leaving=True)
        assert "leaving" in pool_of(locale, text), text


def _han(text: str) -> str:
    """The Han characters of ``text`` (cxloop.text.normalise converts Traditional ones)."""
    return "".join(CJK.findall(text))


def test_the_languages_are_what_they_say() -> None:
    rng = random.Random(2)
    english = [comments.write(rng, "en", t, None, FEATURES) for t in comments.TONES * 20]
    simplified = [comments.write(rng, "zh-CN", t, None, FEATURES) for t in comments.TONES * 20]
    traditional = [comments.write(rng, "zh-TW", t, None, FEATURES) for t in comments.TONES * 20]
    assert not any(CJK.search(t) for t in english)
    assert all(CJK.search(t) or re.search("[a-z]", t) for t in simplified)
    # Mixed Chinese and English ("dashboard 加载太慢"), as Chinese-speaking users write.
    assert any(CJK.search(t) and re.search("[a-z]{3}", t) for t in simplified)
    assert all(_han(normalise(t)) == _han(t) for t in simplified if CJK.search(t))
    converted = [t for t in traditional if _han(normalise(t)) != _han(t)]
    assert len(converted) > len(traditional) / 2  # written in Traditional characters


def test_the_tone_follows_the_mood() -> None:
    rng = random.Random(3)
    happy = Counter(comments.tone_of(rng, 1.5) for _ in range(2000))
    unhappy = Counter(comments.tone_of(rng, -2.5) for _ in range(2000))
    middling = Counter(comments.tone_of(rng, 0.0) for _ in range(2000))
    assert happy["positive"] > 0.8 * 2000 and happy["negative"] == 0
    assert unhappy["negative"] > 0.8 * 2000 and unhappy["positive"] == 0
    assert middling["neutral"] > middling["negative"]


def test_the_same_stream_writes_the_same_comment() -> None:
    a = [comments.write(random.Random(9), "zh-CN", "mixed", "exports", FEATURES)]
    b = [comments.write(random.Random(9), "zh-CN", "mixed", "exports", FEATURES)]
    assert a == b


@pytest.fixture(scope="module")
def answers() -> dict[str, list[dict[str, Any]]]:
    mix = {**DEFAULT_MIX, "voiced": 0.25}
    pop = generate(SimConfig(accounts=160, days=120, seed=5, now=NOW, mix=mix))
    kinds = {a.account_id: a.archetype for a in pop.accounts}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in pop.events():
        if event.get("event") == "Survey Responded":
            out[kinds[event["context"]["groupId"]]].append(
                {
                    **event["properties"],
                    "account": event["context"]["groupId"],
                    "locale": event["context"]["locale"],
                    "at": event["timestamp"],
                }
            )
    return out


def _pools(answer: dict[str, Any]) -> set[str]:
    return pool_of(answer["locale"], answer["comment"])


def test_voiced_accounts_are_polite_in_numbers_and_unhappy_in_words(
    answers: dict[str, list[dict[str, Any]]],
) -> None:
    voiced = [a for a in answers["voiced"] if a["kind"] == "nps"]
    stable = [a for a in answers["healthy_stable"] if a["kind"] == "nps"]
    detractors = sum(a["score"] <= 6 for a in voiced) / len(voiced)
    assert detractors < 0.3  # mostly 7s and 8s and some promoters
    assert sum(a["score"] for a in voiced) / len(voiced) >= 7.0
    said = [_pools(a) for a in answers["voiced"] if "comment" in a]
    unhappy = sum(bool(p & {"negative", "mixed", "leaving"}) for p in said) / len(said)
    stable_said = [_pools(a) for a in answers["healthy_stable"] if "comment" in a]
    stable_unhappy = sum(bool(p & {"negative", "leaving"}) for p in stable_said) / len(stable_said)
    assert unhappy > 0.8 and stable_unhappy < 0.25
    assert not any("leaving" in p for p in stable_said)
    assert len(stable) > len(voiced)
    # Voiced accounts write more, and some say they are leaving, only lately.
    leaving = [a for a in answers["voiced"] if "comment" in a and "leaving" in _pools(a)]
    assert leaving
    assert all((NOW - datetime.fromisoformat(a["at"])).days <= 60 for a in leaving)
    accounts_leaving = {a["account"] for a in leaving}
    voiced_accounts = {a["account"] for a in answers["voiced"]}
    # Not all of them: many only complain (and the score must hear that too).
    assert 0.15 < len(accounts_leaving) / len(voiced_accounts) < 0.8


def test_every_language_is_written(answers: dict[str, list[dict[str, Any]]]) -> None:
    locales = Counter(a["locale"] for rows in answers.values() for a in rows if "comment" in a)
    assert set(locales) == {"en", "zh-CN", "zh-TW"}
    assert locales["en"] > locales["zh-CN"] > locales["zh-TW"] > 0


def test_the_default_mix_is_a_whole_book_with_voiced_churners() -> None:
    from bench.simulate.model import ARCHETYPES

    assert sum(DEFAULT_MIX.values()) == pytest.approx(1.0)
    assert ARCHETYPES["voiced"].churns and DEFAULT_MIX["voiced"] == pytest.approx(0.05)
    churn = sum(share for name, share in DEFAULT_MIX.items() if ARCHETYPES[name].churns)
    assert churn == pytest.approx(0.27)
    # The ceiling the lookalikes leave (README): every other churner ranked first, lookalikes
    # tied with the healthy accounts.
    assert 1 - DEFAULT_MIX["lookalike"] / churn / 2 == pytest.approx(0.944, abs=5e-4)
