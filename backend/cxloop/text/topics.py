"""The built-in SaaS topic taxonomy and a project's effective topics after its overrides,
compiled into matchers robust to segmentation: Chinese terms match as substrings of the
Simplified text, English terms match word stems, several words as a phrase."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from importlib import resources

import msgspec

from cxloop.text.config import TextConfig, TopicSpec
from cxloop.text.segment import HAN_CHAR


def _load_builtin() -> tuple[TopicSpec, ...]:
    raw = json.loads(
        resources.files("cxloop.text").joinpath("data", "topics.json").read_text(encoding="utf-8")
    )
    return tuple(msgspec.convert(topic, TopicSpec) for topic in raw["topics"])


BUILTIN_TOPICS: tuple[TopicSpec, ...] = _load_builtin()
BUILTIN_IDS = frozenset(topic.id for topic in BUILTIN_TOPICS)


def effective_topics(config: TextConfig) -> list[TopicSpec]:
    """Built-in topics in their order with the overrides applied, then the new topics in the
    order configured; disabled topics are kept (with enabled=False) so a listing shows them."""
    overrides = {topic.id: topic for topic in config.topics}
    out: list[TopicSpec] = []
    for topic in BUILTIN_TOPICS:
        override = overrides.pop(topic.id, None)
        if override is None:
            out.append(topic)
            continue
        terms = list(override.terms) if override.terms else list(topic.terms)
        out.append(
            TopicSpec(
                id=topic.id,
                names={**topic.names, **override.names},
                terms=_unique(terms + list(override.add_terms)),
                enabled=override.enabled,
            )
        )
    for topic in overrides.values():
        out.append(
            TopicSpec(
                id=topic.id,
                names=dict(topic.names) or {"en": topic.id.replace("_", " ").capitalize()},
                terms=_unique(list(topic.terms) + list(topic.add_terms)),
                enabled=topic.enabled,
            )
        )
    return out


def _unique(terms: list[str]) -> list[str]:
    return list(dict.fromkeys(terms))


class TopicMatcher:
    """The enabled topics, compiled: per topic, Chinese substrings, English stems and phrases,
    each twice: plain terms, and weak ones ("~方便") that count only when no plain term of any
    topic matched."""

    def __init__(
        self,
        topics: Sequence[TopicSpec],
        normalise: Callable[[str], str],
        latin_stems: Callable[[str], list[str]],
    ) -> None:
        self.compiled: list[tuple[str, _Terms, _Terms]] = []
        for topic in topics:
            if not topic.enabled:
                continue
            plain = _Terms()
            weak = _Terms()
            for term in topic.terms:
                target = weak if term.startswith("~") else plain
                text = normalise(term.removeprefix("~")).strip()
                if not text:
                    continue
                if HAN_CHAR.search(text):
                    target.substrings.add(text)
                    continue
                words = latin_stems(text)
                if len(words) == 1:
                    target.stems.add(words[0])
                elif words:
                    target.phrases.add(" " + " ".join(words) + " ")
            self.compiled.append((topic.id, plain, weak))

    def match(
        self, text: str, stems: set[str], joined_stems: str, negative: bool = False
    ) -> list[str]:
        """Topic ids found in a normalised text, its set of English stems, and those stems in
        order joined by single spaces with a space at both ends; `negative`: the comment's
        sentiment is negative (then it is not praise)."""
        found = [
            topic_id
            for topic_id, plain, _ in self.compiled
            if plain.found(text, stems, joined_stems)
        ]
        if not found:
            found = [
                topic_id
                for topic_id, _, weak in self.compiled
                if weak.found(text, stems, joined_stems)
            ]
        if negative and PRAISE in found:
            found.remove(PRAISE)
        return found


PRAISE = "praise"


class _Terms:
    __slots__ = ("phrases", "stems", "substrings")

    def __init__(self) -> None:
        self.substrings: set[str] = set()
        self.stems: set[str] = set()
        self.phrases: set[str] = set()

    def found(self, text: str, stems: set[str], joined_stems: str) -> bool:
        return (
            not self.stems.isdisjoint(stems)
            or any(sub in text for sub in self.substrings)
            or any(phrase in joined_stems for phrase in self.phrases)
        )
