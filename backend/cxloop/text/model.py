"""A small linear sentiment model on top of the lexicon: multinomial logistic regression over
the lexicon's evidence and character/word n-grams, trained only on the "train" split of
bench/textsets (`python -m cxloop.text.train_model` rebuilds data/sentiment_model.json).

The lexicon and rules (sentiment.py) see negation, degree and contrast; the model learns how
much of that evidence makes a label (where "mixed" and "neutral" begin) and the phrasing the
lexicon has no word for. It is read once per process; predicting is a few dictionary lookups.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from importlib import resources

from cxloop.text.segment import HAN_CHAR, stem
from cxloop.text.sentiment import Sentiment

LABELS = ("positive", "negative", "neutral", "mixed")
DENSE = 12
_HAN_RUN = re.compile(f"{HAN_CHAR.pattern}+")
_WORD = re.compile(r"[a-z][a-z0-9]*(?:['’][a-z]+)?")
MODEL_FILE = "sentiment_model.json"
FEATURES = "ngrams-2"  # the layout of the inputs; a model file of another layout is not read
# A reason for leaving outside the product (budget, merger, head office, strategy): the label
# definitions make such churn neutral unless the product is also criticised.
_EXTERNAL_REASON = re.compile(
    r"budget|procurement|acquired|acquisition|\bmerg(?:e|ed|er|ing)|reorg|restructur|mandat|"
    r"head office|headquarters|parent company|company policy|strategy|strategic|cost[- ]cutting|"
    r"cutting costs|cut costs|project ended|no longer need|won't need|"
    r"预算|战略|策略|合并|收购|并购|采购|集团|总部|政策|降低成本|降本|压成本|控制成本|削减|项目结束|不再需要|架构调整|组织调整"
)


def dense_features(sentiment: Sentiment, churn_intent: bool, text: str) -> list[float]:
    """The lexicon's evidence about a text, as the model's first DENSE inputs. One calibration
    for both languages: calibrated on Chinese train rows alone (whose wording the lexicon was
    tuned on) it trusted the lexicon more than held-out text warrants."""
    return [
        sentiment.positive,
        sentiment.negative,
        sentiment.score,
        float(churn_intent),
        float(sentiment.label == "positive"),
        float(sentiment.label == "negative"),
        float(sentiment.label == "neutral"),
        float(sentiment.label == "mixed"),
        min(len(text), 200) / 100,
        float("?" in text),
        float(churn_intent and bool(_EXTERNAL_REASON.search(text))),
        1.0,
    ]


def ngram_features(text: str) -> set[str]:
    """Character unigrams and bigrams of the Han runs, stemmed words and word bigrams of the
    Latin parts of a normalised text (the model keeps weights only for those seen in training,
    so no hashing is needed)."""
    keys: list[str] = []
    for run in _HAN_RUN.findall(text):
        for index, ch in enumerate(run):
            keys.append("c1" + ch)
            if index + 1 < len(run):
                keys.append("c2" + run[index : index + 2])
    words = [stem(word) for word in _WORD.findall(text.replace("’", "'"))]
    for index, word in enumerate(words):
        keys.append("w1" + word)
        if index + 1 < len(words):
            keys.append("w2" + word + " " + words[index + 1])
    return set(keys)


class SentimentModel:
    """Weights of the trained model: per input, one weight per label."""

    def __init__(self, dense: Sequence[Sequence[float]], sparse: dict[str, Sequence[float]]):
        self.dense = [list(row) for row in dense]
        self.sparse = {key: list(row) for key, row in sparse.items()}

    def probabilities(self, dense: Sequence[float], ngrams: set[str]) -> list[float]:
        positive = negative = neutral = mixed = 0.0
        for value, row in zip(dense, self.dense, strict=True):
            if value:
                positive += value * row[0]
                negative += value * row[1]
                neutral += value * row[2]
                mixed += value * row[3]
        sparse = self.sparse
        for key in ngrams:
            weights = sparse.get(key)
            if weights is not None:
                positive += weights[0]
                negative += weights[1]
                neutral += weights[2]
                mixed += weights[3]
        logits = (positive, negative, neutral, mixed)
        top = max(logits)
        exps = [math.exp(logit - top) for logit in logits]
        total = sum(exps)
        return [e / total for e in exps]

    def to_json(self, about: dict[str, object]) -> str:
        return json.dumps(
            {
                "about": about,
                "labels": list(LABELS),
                "features": FEATURES,
                "dense": [[round(w, 5) for w in row] for row in self.dense],
                "sparse": {
                    key: [round(w, 5) for w in row]
                    for key, row in sorted(self.sparse.items())
                    if any(abs(w) >= 1e-5 for w in row)
                },
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


@functools.cache
def shipped_model() -> SentimentModel | None:
    """The model in data/, or None when none is shipped (the lexicon decides alone)."""
    path = resources.files("cxloop.text").joinpath("data", MODEL_FILE)
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("labels") != list(LABELS) or raw.get("features") != FEATURES:
        return None
    return SentimentModel(raw["dense"], raw["sparse"])
