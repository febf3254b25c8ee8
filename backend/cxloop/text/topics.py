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
    """The enabled topics, compiled into indexes: Chinese substrings by their first two characters,
    English stems, English phrases by their first word. Each term is plain, or weak ("~方便"):
    a weak term counts only when no plain term of any topic matched."""

    def __init__(
        self,
        topics: Sequence[TopicSpec],
        normalise: Callable[[str], str],
        latin_stems: Callable[[str], list[str]],
    ) -> None:
        self.ids: list[str] = []
        # term -> (topic index, weak); the indexes keep the scan linear in the text
        self._substrings: dict[str, list[tuple[str, int, bool]]] = {}
        self._stems: dict[str, list[tuple[int, bool]]] = {}
        self._phrases: dict[str, list[tuple[str, int, bool]]] = {}
        for topic in topics:
            if not topic.enabled:
                continue
            index = len(self.ids)
            self.ids.append(topic.id)
            for term in topic.terms:
                weak = term.startswith("~")
                text = normalise(term.removeprefix("~")).strip()
                if not text:
                    continue
                if HAN_CHAR.search(text):
                    # by the first two characters, so a run of one common character (不不不…)
                    # does not try every term that starts with it
                    self._substrings.setdefault(text[:2], []).append((text, index, weak))
                    continue
                words = latin_stems(text)
                if len(words) == 1:
                    self._stems.setdefault(words[0], []).append((index, weak))
                elif words:
                    phrase = " ".join(words) + " "
                    self._phrases.setdefault(words[0], []).append((phrase, index, weak))
        self._first_chars = frozenset(prefix[0] for prefix in self._substrings)

    def match(
        self, text: str, stems: set[str], joined_stems: str, negative: bool = False
    ) -> list[str]:
        """Topic ids found in a normalised text, its set of words (English stemmed), and those
        words in order joined by single spaces with a space at both ends; `negative`: the
        comment's sentiment is negative (then it is not praise)."""
        plain: set[int] = set()
        weak: set[int] = set()
        substrings = self._substrings
        for position, ch in enumerate(text):
            if ch in self._first_chars:
                for prefix in (ch, text[position : position + 2]):
                    for term, index, is_weak in substrings.get(prefix, ()):
                        if text.startswith(term, position):
                            (weak if is_weak else plain).add(index)
        for word in stems:
            for index, is_weak in self._stems.get(word, ()):
                (weak if is_weak else plain).add(index)
            for phrase, index, is_weak in self._phrases.get(word, ()):
                if " " + word + " " in joined_stems and " " + phrase in joined_stems:
                    (weak if is_weak else plain).add(index)
        chosen = plain or weak
        found = [self.ids[index] for index in sorted(chosen)]
        if negative and PRAISE in found:
            found.remove(PRAISE)
        return found


PRAISE = "praise"
RELIABILITY = "reliability"
