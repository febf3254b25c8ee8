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
    """The enabled topics, compiled: per topic, Chinese substrings, English stems and phrases."""

    def __init__(
        self,
        topics: Sequence[TopicSpec],
        normalise: Callable[[str], str],
        latin_stems: Callable[[str], list[str]],
    ) -> None:
        self.compiled: list[tuple[str, tuple[str, ...], frozenset[str], tuple[str, ...]]] = []
        for topic in topics:
            if not topic.enabled:
                continue
            substrings: set[str] = set()
            stems: set[str] = set()
            phrases: set[str] = set()
            for term in topic.terms:
                text = normalise(term).strip()
                if not text:
                    continue
                if HAN_CHAR.search(text):
                    substrings.add(text)
                    continue
                words = latin_stems(text)
                if len(words) == 1:
                    stems.add(words[0])
                elif words:
                    phrases.add(" " + " ".join(words) + " ")
            self.compiled.append(
                (topic.id, tuple(sorted(substrings)), frozenset(stems), tuple(sorted(phrases)))
            )

    def match(self, text: str, stems: set[str], joined_stems: str) -> list[str]:
        """Topic ids found in a normalised text, its set of English stems, and those stems in
        order joined by single spaces with a space at both ends."""
        found: list[str] = []
        for topic_id, substrings, topic_stems, phrases in self.compiled:
            if (
                not topic_stems.isdisjoint(stems)
                or any(sub in text for sub in substrings)
                or any(phrase in joined_stems for phrase in phrases)
            ):
                found.append(topic_id)
        return found
