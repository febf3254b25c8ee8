"""A project's text-analysis configuration: its user dictionary, topic overrides and competitors,
validated with every problem named at once (an API answers all of them in one 400)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

import msgspec

LANGUAGE_NAMES = ("en", "zh-CN", "zh-TW")
MAX_TERM_CHARS = 64
MAX_DICTIONARY_TERMS = 5_000
MAX_TOPICS = 100
MAX_TERMS_PER_TOPIC = 200
MAX_COMPETITORS = 200
TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class TopicSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A topic: a stable id, its name per language and its seed terms (any language).

    In a configuration, a topic with the id of a built-in one overrides it: names given replace
    those names, `terms` (when not empty) replace the seed terms, `add_terms` are added to them,
    `enabled: false` turns it off. A new id adds a topic; it needs at least one term. A term
    written "~term" is weak: it gives its topic only when no plain term of any topic matched.
    """

    id: str
    names: dict[str, str] = {}
    terms: list[str] = []
    enabled: bool = True
    add_terms: list[str] = []


class TextConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One project's configuration of cxloop.text (insights_config.config)."""

    user_dictionary: list[str] = []  # product and feature names kept as one token
    topics: list[TopicSpec] = []  # overrides of built-in topics and new topics
    competitors: list[str] = []  # names (any language) whose mention is flagged


class TextConfigError(ValueError):
    """A configuration that cannot be used; `problems` says what to change, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


_FIELDS = {
    "user_dictionary": "product and feature names kept as one token",
    "topics": "topic overrides and new topics",
    "competitors": "competitor names",
}
_TOPIC_FIELDS = ("id", "names", "terms", "enabled", "add_terms")


def validate_text_config(raw: object, builtin_ids: frozenset[str] | None = None) -> TextConfig:
    """`raw` (decoded JSON, or a TextConfig) as a TextConfig, or TextConfigError listing every
    problem in plain words. `builtin_ids` are the topic ids that may be overridden without
    terms (the built-in taxonomy unless told)."""
    if isinstance(raw, TextConfig):
        raw = msgspec.to_builtins(raw)
    if builtin_ids is None:
        from cxloop.text.topics import BUILTIN_TOPICS

        builtin_ids = frozenset(topic.id for topic in BUILTIN_TOPICS)
    problems: list[str] = []
    if raw is None:
        return TextConfig()
    if not isinstance(raw, Mapping):
        raise TextConfigError([f"the text configuration must be a JSON object, not {_kind(raw)}"])
    for key in raw:
        if key not in _FIELDS:
            allowed = ", ".join(_FIELDS)
            problems.append(f"unknown field {key!r}: the fields are {allowed}")
    _check_terms(raw.get("user_dictionary", []), "user_dictionary", MAX_DICTIONARY_TERMS, problems)
    _check_terms(raw.get("competitors", []), "competitors", MAX_COMPETITORS, problems)
    topics = raw.get("topics", [])
    if not isinstance(topics, list):
        problems.append(f"topics must be a list of topic objects, not {_kind(topics)}")
    else:
        if len(topics) > MAX_TOPICS:
            problems.append(f"topics has {len(topics)} entries; at most {MAX_TOPICS} are allowed")
        seen: set[str] = set()
        for index, topic in enumerate(topics[: MAX_TOPICS + 1]):
            _check_topic(topic, f"topics[{index}]", builtin_ids, seen, problems)
    if problems:
        raise TextConfigError(problems)
    try:
        return msgspec.convert(raw, TextConfig)
    except msgspec.ValidationError as error:  # pragma: no cover - the checks above cover it
        raise TextConfigError([str(error)]) from error


def _check_topic(
    topic: object, where: str, builtin_ids: frozenset[str], seen: set[str], problems: list[str]
) -> None:
    if not isinstance(topic, Mapping):
        problems.append(f"{where} must be an object with an id, not {_kind(topic)}")
        return
    for key in topic:
        if key not in _TOPIC_FIELDS:
            problems.append(
                f"{where}: unknown field {key!r}: a topic has {', '.join(_TOPIC_FIELDS)}"
            )
    topic_id = topic.get("id")
    if not isinstance(topic_id, str):
        problems.append(f"{where}.id is missing or not a string: give an id such as 'billing'")
    elif not TOPIC_ID.match(topic_id):
        problems.append(
            f"{where}.id {_shown(topic_id)} must be 1–40 characters of lower-case letters, digits"
            " and underscores, starting with a letter (for example 'mobile_app')"
        )
    elif topic_id in seen:
        problems.append(f"{where}.id {topic_id!r} appears twice: give each topic once")
    else:
        seen.add(topic_id)
    names = topic.get("names", {})
    if not isinstance(names, Mapping):
        problems.append(f"{where}.names must be an object such as {{'en': 'Billing'}}")
    else:
        for language, name in names.items():
            if language not in LANGUAGE_NAMES:
                problems.append(
                    f"{where}.names has language {_shown(language)}: use {', '.join(LANGUAGE_NAMES)}"
                )
            _check_text(name, f"{where}.names[{language!r}]", problems)
    enabled = topic.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"{where}.enabled must be true or false, not {_kind(enabled)}")
    terms = topic.get("terms", [])
    added = topic.get("add_terms", [])
    _check_terms(terms, f"{where}.terms", MAX_TERMS_PER_TOPIC, problems)
    _check_terms(added, f"{where}.add_terms", MAX_TERMS_PER_TOPIC, problems)
    is_new = isinstance(topic_id, str) and topic_id not in builtin_ids
    if is_new and not terms and not added and enabled is not False:
        problems.append(
            f"{where} ({topic_id!r}) is a new topic without terms: give it at least one seed term"
        )


def _check_terms(value: object, where: str, limit: int, problems: list[str]) -> None:
    if not isinstance(value, list):
        problems.append(f"{where} must be a list of strings, not {_kind(value)}")
        return
    if len(value) > limit:
        problems.append(f"{where} has {len(value)} entries; at most {limit} are allowed")
    for index, term in enumerate(value[: limit + 1]):
        _check_text(term, f"{where}[{index}]", problems)
        if isinstance(term, str) and term.startswith("~") and not term[1:].strip():
            problems.append(f"{where}[{index}] is only '~': write the weak term after it (~quick)")


def _check_text(value: object, where: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{where} must be a string, not {_kind(value)}")
        return
    stripped = value.strip()
    if not stripped:
        problems.append(f"{where} is empty: give a word or phrase of 1–{MAX_TERM_CHARS} characters")
    elif len(value) > MAX_TERM_CHARS:
        problems.append(
            f"{where} has {len(value)} characters; at most {MAX_TERM_CHARS} are allowed"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        problems.append(f"{where} contains a control character (NUL, a line break, …): remove it")


def _kind(value: object) -> str:
    return {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 50 else text[:47] + "…"
