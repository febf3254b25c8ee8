"""A project's insights configuration: the text part (user dictionary, topic overrides,
competitors, validated by ``cxloop.text``), the user traits responses keep, and which comment
signals open an alert. One ``insights_config`` row per project; its ``version`` goes up on every
change, and every comment analysed with another version is analysed again (insights/analysis.py).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cxloop.db import Connection
from cxloop.text import TextConfig, TextConfigError, TopicSpec, validate_text_config

__all__ = [
    "DEFAULT_VERSION",
    "MAX_USER_TRAITS",
    "InsightsConfig",
    "InsightsConfigError",
    "StoredConfig",
    "load_config",
    "save_config",
    "validate_insights_config",
]

# A project that never saved a configuration analyses its comments as version 1 (the column's
# default); the first save writes 2, so comments analysed before it are analysed again.
DEFAULT_VERSION = 1
MAX_USER_TRAITS = 20
MAX_TRAIT_LENGTH = 100

_TEXT_FIELDS = ("user_dictionary", "topics", "competitors")
_FLAGS = ("alert_on_churn_intent", "alert_on_competitor")


class InsightsConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """``PUT /v1/insights/config``: every field optional; what is left out takes its default."""

    user_dictionary: list[str] = []
    topics: list[TopicSpec] = []
    competitors: list[str] = []
    user_traits: list[str] = []
    alert_on_churn_intent: bool = True
    alert_on_competitor: bool = True

    def text_config(self) -> TextConfig:
        return TextConfig(
            user_dictionary=list(self.user_dictionary),
            topics=list(self.topics),
            competitors=list(self.competitors),
        )


class InsightsConfigError(ValueError):
    """A configuration that is not valid; ``problems`` lists every one, each saying what to do."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class StoredConfig(msgspec.Struct, frozen=True):
    config: InsightsConfig
    version: int
    updated_at: str | None


def _trait_problems(raw: object) -> list[str]:
    if not isinstance(raw, list):
        return ["user_traits must be a list of user trait keys (strings)"]
    problems = []
    if len(raw) > MAX_USER_TRAITS:
        problems.append(f"user_traits: at most {MAX_USER_TRAITS} keys, got {len(raw)}")
    seen: set[str] = set()
    for index, key in enumerate(raw):
        where = f"user_traits[{index}]"
        if not isinstance(key, str):
            problems.append(f"{where} must be a string (a user trait key), got {key!r}")
        elif not key.strip():
            problems.append(f"{where} must not be blank")
        elif "\x00" in key:
            problems.append(f"{where} must not contain NUL (U+0000)")
        elif len(key) > MAX_TRAIT_LENGTH:
            problems.append(f"{where} is longer than {MAX_TRAIT_LENGTH} characters")
        elif key in seen:
            problems.append(f"{where}: {key!r} is listed twice")
        else:
            seen.add(key)
    return problems


def validate_insights_config(raw: object) -> InsightsConfig:
    """The configuration in ``raw`` (decoded JSON), or ``InsightsConfigError`` listing every
    problem: unknown fields, the text part's problems (``cxloop.text``), traits and flags."""
    if not isinstance(raw, dict):
        raise InsightsConfigError(
            ["the configuration must be a JSON object with user_dictionary, topics, "
             "competitors, user_traits, alert_on_churn_intent, alert_on_competitor"]
        )  # fmt: skip
    known = {*_TEXT_FIELDS, "user_traits", *_FLAGS}
    problems = [
        f"unknown field {key!r}; known fields: {', '.join(sorted(known))}"
        for key in raw
        if key not in known
    ]
    text: TextConfig | None = None
    try:
        text = validate_text_config({k: raw[k] for k in _TEXT_FIELDS if k in raw})
    except TextConfigError as exc:
        problems.extend(exc.problems)
    if "user_traits" in raw:
        problems.extend(_trait_problems(raw["user_traits"]))
    for flag in _FLAGS:
        if flag in raw and not isinstance(raw[flag], bool):
            problems.append(f"{flag} must be true or false, got {raw[flag]!r}")
    if problems or text is None:
        raise InsightsConfigError(problems)
    return InsightsConfig(
        user_dictionary=list(text.user_dictionary),
        topics=list(text.topics),
        competitors=list(text.competitors),
        user_traits=list(raw.get("user_traits", [])),
        alert_on_churn_intent=raw.get("alert_on_churn_intent", True),
        alert_on_competitor=raw.get("alert_on_competitor", True),
    )


_decode_stored = msgspec.json.Decoder(dict[str, Any]).decode

# config::text: the same on a pooled connection (jsonb codecs) and a plain one.
SELECT_CONFIG = """
SELECT config::text AS config, version, updated_at FROM insights_config WHERE project_id = $1
"""
SELECT_VERSION = "SELECT version FROM insights_config WHERE project_id = $1"
# The first save writes version 2: comments analysed under the implicit version 1 are redone.
SAVE_CONFIG = """
INSERT INTO insights_config AS c (project_id, config, version, updated_at)
VALUES ($1, $2::text::jsonb, 2, now())
ON CONFLICT (project_id) DO UPDATE
SET config = excluded.config, version = c.version + 1, updated_at = now()
RETURNING version, updated_at
"""


def _decoded(text: str) -> InsightsConfig:
    # What was saved was valid; a stored document that no longer is (a field renamed by an
    # upgrade) must not stop the analysis: fall back to what can still be read.
    try:
        return validate_insights_config(_decode_stored(text))
    except InsightsConfigError:
        return InsightsConfig()


async def load_config(conn: Connection, project_id: str) -> StoredConfig:
    """The project's configuration and version (defaults and version 1 when never saved)."""
    row = await conn.fetchrow(SELECT_CONFIG, project_id)
    if row is None:
        return StoredConfig(InsightsConfig(), DEFAULT_VERSION, None)
    return StoredConfig(_decoded(row["config"]), row["version"], row["updated_at"].isoformat())


async def config_version(conn: Connection, project_id: str) -> int:
    version = await conn.fetchval(SELECT_VERSION, project_id)
    return DEFAULT_VERSION if version is None else int(version)


async def save_config(conn: Connection, project_id: str, config: InsightsConfig) -> StoredConfig:
    """Store ``config`` and bump the version (every comment of the project becomes pending)."""
    row = await conn.fetchrow(SAVE_CONFIG, project_id, msgspec.json.encode(config).decode())
    assert row is not None
    return StoredConfig(config, row["version"], row["updated_at"].isoformat())
