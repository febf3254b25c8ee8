"""Simplified and Traditional Chinese: which script a text is in, and its Simplified form.

The tables are OpenCC's (Apache-2.0), read from the `opencc-python-reimplemented` package's
dictionary files once per process; the conversion itself is ours: Taiwan phrases first
(匯出 → 导出, 軟體 → 软件, 登入 → 登录), then Traditional phrases, then characters; the scan jumps between the
characters that can start a conversion, so a Simplified text costs one scan in C.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import threading
from pathlib import Path

_LOCK = threading.Lock()


class _Tables:
    """The compiled conversion: a pattern over every convertible phrase and character."""

    def __init__(self, directory: Path) -> None:
        characters = _read(directory / "TSCharacters.txt")
        variants = _read(directory / "TWVariantsRev.txt")
        simplified_candidates = _read(directory / "STCharacters.txt")
        # A character is Traditional-only when OpenCC turns it into something else and never
        # keeps it (後 → 后; 乾 may stay 乾): the same test the other way finds Simplified-only.
        self.traditional_only = frozenset(
            key
            for key, values in characters.items()
            if key not in values and key not in simplified_candidates
        )
        self.simplified_only = frozenset(
            key
            for key, values in simplified_candidates.items()
            if key not in values and key not in characters
        )
        # A character that is itself the Simplified form of another is left alone (么 is the
        # Simplified 麼, not a Traditional 幺): only Traditional characters are converted.
        simplified_forms = {value for values in characters.values() for value in values}
        char_map: dict[str, str] = {
            key: values[0] for key, values in characters.items() if key not in simplified_forms
        }
        for key, values in variants.items():
            if key not in simplified_forms:
                char_map[key] = char_map.get(values[0], values[0])
        self.char_map = char_map
        self.char_keys = frozenset(char_map)
        phrases: dict[str, str] = {}
        for key, values in _read(directory / "TSPhrases.txt").items():
            phrases[key] = values[0]
        for key, values in _read(directory / "TWPhrasesRev.txt").items():
            phrases[key] = self._chars(values[0])
        self.phrases = phrases
        self.longest_phrase = max(len(phrase) for phrase in phrases)
        # Characters that can start a conversion: the scan jumps from one to the next in C.
        self.triggers = frozenset(char_map) | frozenset(phrase[0] for phrase in phrases)
        self.pattern = re.compile(
            "[" + "".join(sorted(re.escape(ch) for ch in self.triggers if len(ch) == 1)) + "]"
        )

    def _chars(self, text: str) -> str:
        return "".join(self.char_map.get(ch, ch) for ch in text)

    def convert(self, text: str) -> str:
        """Longest phrase first at each position that can start one, else the character."""
        out: list[str] = []
        position = 0
        search = self.pattern.search
        phrases = self.phrases
        while (found := search(text, position)) is not None:
            start = found.start()
            out.append(text[position:start])
            for length in range(min(self.longest_phrase, len(text) - start), 1, -1):
                replacement = phrases.get(text[start : start + length])
                if replacement is not None:
                    out.append(replacement)
                    position = start + length
                    break
            else:
                ch = text[start]
                out.append(self.char_map.get(ch, ch))
                position = start + 1
        if not out:
            return text
        out.append(text[position:])
        return "".join(out)


def _read(path: Path) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, values = line.partition("\t")
        if key and values:
            table[key] = values.split(" ")
    return table


@functools.cache
def _tables() -> _Tables:
    spec = importlib.util.find_spec("opencc")
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:  # pragma: no cover - a broken install; the dependency is declared
        raise RuntimeError("the opencc-python-reimplemented package (OpenCC tables) is missing")
    return _Tables(Path(next(iter(locations))) / "dictionary")


def tables() -> _Tables:
    """The tables, loaded on first use (about 30 ms) by exactly one thread."""
    with _LOCK:
        return _tables()


def to_simplified(text: str, han: set[str] | None = None) -> str:
    """`text` with Traditional characters and Taiwan vocabulary in Simplified (mainland) form;
    `han`, the set of the text's Han characters when the caller has it, skips texts without a
    Traditional character (the common case) at the cost of a set intersection."""
    table = tables()
    if han is not None and table.char_keys.isdisjoint(han):
        return text
    return table.convert(text)


def script_of(han: set[str]) -> str:
    """ "zh-TW" when the Han characters include Traditional-only ones and no Simplified-only
    ones, else "zh-CN" (characters common to both scripts read as Simplified)."""
    table = tables()
    if han & table.traditional_only and not han & table.simplified_only:
        return "zh-TW"
    return "zh-CN"
