"""From a raw comment to words: cleaning hostile input, jieba for Chinese runs, light English
stemming, stopwords, and a per-analyser user dictionary that never touches jieba's global one."""

from __future__ import annotations

import functools
import logging
import re
import threading
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from typing import Protocol

MAX_CHARS = 4_000
"""An analysis reads the first 4,000 characters of a comment (after cleaning): longer texts are
rare, and the cap keeps every comment's cost bounded."""

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_CHAR = re.compile(f"[{HAN}]")
# Zero-width characters, bidirectional marks, BOM, variation selectors: removed.
_INVISIBLE = dict.fromkeys(
    [
        *range(0x200B, 0x2010),  # zero-width space, joiners, LRM/RLM
        *range(0x202A, 0x202F),  # bidirectional embeddings and overrides
        *range(0x2060, 0x2070),  # word joiner, invisible operators, isolates
        *range(0xFE00, 0xFE10),  # variation selectors
        0xFEFF,  # byte order mark
        0x00AD,  # soft hyphen
    ]
)
_CONTROL_OR_SURROGATE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# Word pieces: a Han run (segmented by jieba), a Latin word (letters, digits, inner ' - . + #),
# a number, or any other single visible character (emoji, punctuation).
PIECE = re.compile(
    f"([{HAN}]+)|([a-z][a-z0-9]*(?:['’.+#][a-z0-9]+)*[+#]*|[0-9]+(?:[.,][0-9]+)*[a-z]*)|(\\S)"
)
_LATIN_WORD = re.compile(r"[a-z]{2,}")
_HMM_MAX_RUN = 64


def clean(comment: str) -> str:
    """The text an analysis reads: at most MAX_CHARS characters, NFKC-normalised (full-width
    Latin and punctuation to ASCII), without control, invisible or lone surrogate characters,
    URLs replaced by a space. Never raises."""
    text = comment[: MAX_CHARS * 2]
    text = _CONTROL_OR_SURROGATE.sub(" ", text)
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    text = _URL.sub(" ", text)
    return text[:MAX_CHARS]


def _read_words(name: str) -> frozenset[str]:
    data = resources.files("cxloop.text").joinpath("data", name).read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in data.splitlines() if line.strip() and not line.startswith("#")
    )


STOPWORDS = _read_words("stopwords_en.txt") | _read_words("stopwords_zh.txt")


@functools.lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A light English stemmer (plural, -ed, -ing; Porter's step 1 in spirit) so that "exports",
    "exported" and "exporting" meet; words of four letters or fewer are kept."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    irregular = _IRREGULAR.get(word)
    if irregular is not None:
        return irregular
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "ches", "shes", "xes", "zzes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is", "ous")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if not any(ch in "aeiouy" for ch in base):
                break
            if base.endswith(("at", "bl", "iz", "us")):
                return base + "e"
            if len(base) >= 3 and base[-1] == base[-2] and base[-1] not in "lsz":
                return base[:-1]
            if _short_syllable(base):
                return base + "e"
            return base
    return word


_IRREGULAR = {
    "using": "use",
    "used": "use",
    "uses": "use",
    "does": "does",
    "was": "was",
    "has": "has",
    "this": "this",
    "data": "data",
    "less": "less",
    "business": "business",
    "access": "access",
    "process": "process",
    "success": "success",
    "analytics": "analytics",
    "settings": "setting",
    "news": "news",
    "needs": "need",
    "needed": "need",
    "needing": "need",
}


def _short_syllable(base: str) -> bool:
    """consonant-vowel-consonant at the end of a one-syllable stem ("mak" → "make")."""
    if len(base) < 3 or len(base) > 4:
        return False
    c1, v, c2 = base[-3], base[-2], base[-1]
    vowels = "aeiou"
    one_vowel = sum(ch in vowels for ch in base) == 1
    return one_vowel and c1 not in vowels and v in vowels and c2 not in vowels + "wxy"


class _Cutter(Protocol):
    def cut(self, sentence: str, cut_all: bool = ..., HMM: bool = ...) -> Iterator[str]: ...


_JIEBA_LOCK = threading.Lock()
_jieba_tokenizer: _Cutter | None = None


def jieba_tokenizer() -> _Cutter:
    """One jieba Tokenizer for the process, initialised once (about a second, from jieba's
    cache) under a lock; it is only read afterwards, so analysers share it across threads."""
    global _jieba_tokenizer
    if _jieba_tokenizer is None:
        with _JIEBA_LOCK:
            if _jieba_tokenizer is None:
                with warnings.catch_warnings():
                    # jieba 0.42 has invalid escape sequences (a DeprecationWarning when its
                    # source is compiled without a cached .pyc) and imports pkg_resources (a
                    # deprecation warning on recent setuptools): neither is ours to fix.
                    warnings.filterwarnings("ignore", message="invalid escape sequence")
                    warnings.filterwarnings("ignore", message=".*pkg_resources")
                    import jieba  # type: ignore[import-untyped]

                jieba.setLogLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _jieba_tokenizer = tokenizer
    return _jieba_tokenizer


class UserDictionary:
    """Terms kept whole: the text is cut on the longest term matches first and only the gaps
    are segmented, so the terms never enter jieba's dictionary (projects stay independent)."""

    def __init__(self, terms: Iterable[str], normalise: Callable[[str], str]) -> None:
        from cxloop.text.patterns import trie_pattern

        normalised = sorted({normalise(term).strip() for term in terms} - {""})
        self.terms = frozenset(normalised)
        self.pattern = (
            re.compile(
                r"(?<![0-9a-z])(?:"
                + trie_pattern([t for t in normalised if t[0].isascii() and t[0].isalnum()], True)
                + ")|"
                + trie_pattern(
                    [t for t in normalised if not (t[0].isascii() and t[0].isalnum())], True
                )
            )
            if normalised
            else None
        )


def words(text: str, dictionary: UserDictionary | None) -> list[str]:
    """Every word of a cleaned, lower-cased, Simplified text in order: user-dictionary terms
    whole, Han runs segmented by jieba, Latin words stemmed, numbers, and single symbols
    (punctuation and emoji, which the sentiment and clause rules read)."""
    out: list[str] = []
    if dictionary is not None and dictionary.pattern is not None:
        position = 0
        for match in dictionary.pattern.finditer(text):
            if match.start() > position:
                _pieces(text[position : match.start()], out)
            out.append(match.group(0))
            position = match.end()
        _pieces(text[position:], out)
    else:
        _pieces(text, out)
    return out


def _pieces(text: str, out: list[str]) -> None:
    for match in PIECE.finditer(text):
        han, latin, other = match.groups()
        if han is not None:
            # jieba's HMM (new words) costs ~50 µs a character on long runs of unknown
            # characters (不不不…): runs longer than any real clause are cut without it.
            out.extend(jieba_tokenizer().cut(han, HMM=len(han) <= _HMM_MAX_RUN))
        elif latin is not None:
            out.append(stem(latin))
        elif other is not None:
            out.append(other)


def content_tokens(all_words: Iterable[str], keep: frozenset[str] = frozenset()) -> list[str]:
    """The words that carry content: not stopwords, not punctuation, emoji or bare numbers;
    user-dictionary terms (`keep`) always count."""
    return [
        word for word in all_words if word in keep or (word not in STOPWORDS and _is_content(word))
    ]


def _is_content(word: str) -> bool:
    first = word[0]
    if HAN_CHAR.match(first):
        return True
    return first.isascii() and first.isalpha()


def is_latin_word(word: str) -> bool:
    return _LATIN_WORD.match(word) is not None
