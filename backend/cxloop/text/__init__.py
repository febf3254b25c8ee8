"""Text analysis of in-app comments in Chinese (Simplified, Traditional) and English: language,
tokens (jieba), keywords, topics, sentiment, churn intent, competitor mentions (docs/insights.md).

Pure functions and compiled per-project analysers: no database, no network, no model download.
"""

__all__: list[str] = []
