"""Text analysis of in-app comments in Chinese (Simplified, Traditional) and English: language,
tokens (jieba), keywords, topics, sentiment, churn intent, competitor mentions (docs/insights.md).

Pure functions and compiled per-project analysers: no database, no network, no model download.
"""

from cxloop.text.analyzer import Analyzer, CommentAnalysis, normalise
from cxloop.text.config import TextConfig, TextConfigError, TopicSpec, validate_text_config
from cxloop.text.corpus import TermScore, distinctive_terms, keywords, phrases, suggest_topics
from cxloop.text.segment import MAX_CHARS
from cxloop.text.topics import BUILTIN_TOPICS

__all__ = [
    "BUILTIN_TOPICS",
    "MAX_CHARS",
    "Analyzer",
    "CommentAnalysis",
    "TermScore",
    "TextConfig",
    "TextConfigError",
    "TopicSpec",
    "distinctive_terms",
    "keywords",
    "normalise",
    "phrases",
    "suggest_topics",
    "validate_text_config",
]
