"""Train the sentiment model (model.py) on the "train" split of bench/textsets and write
data/sentiment_model.json. Deterministic: full-batch gradient descent from zero weights, the
L2 strength chosen by 5-fold cross-validation on the train rows only (folds by CRC-32 of the
row id). Usage: python -m cxloop.text.train_model [--textsets bench/textsets]
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cxloop.text.analyzer import Analyzer, normalise
from cxloop.text.churn import has_churn_intent
from cxloop.text.model import (
    DENSE,
    LABELS,
    MODEL_FILE,
    SentimentModel,
    dense_features,
    ngram_features,
)
from cxloop.text.sentiment import analyse_sentiment
from cxloop.text.topics import RELIABILITY

SETS = ("comments_en", "comments_zh")
# Extra training rows (split "train" only, never evaluated as held out): read when present.
EXTRA_SETS = ("extra_train_en",)
L2_CANDIDATES = (1e-3, 1e-2, 3e-2)
EPOCHS = 300
LEARNING_RATE = 0.5

Matrix = npt.NDArray[np.float64]


def load_train(textsets: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name in SETS + EXTRA_SETS:
        path = textsets / f"{name}.jsonl"
        if name in EXTRA_SETS and not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row["split"] == "train":  # never the held-out rows
                rows.append(row)
    return rows


def features(
    rows: list[dict[str, object]],
) -> tuple[Matrix, npt.NDArray[np.int64], list[str]]:
    """The design matrix: the dense inputs, then one column per n-gram seen in the
    rows (the others would keep a zero weight anyway), and the n-gram of each such column."""
    analyzer = Analyzer(sentiment_model=False)
    dense: list[list[float]] = []
    ngrams: list[set[str]] = []
    for row in rows:
        text = normalise(str(row["text"]))
        # as the analyser sees it with the evaluation's competitor list (the labelled names)
        churn = has_churn_intent(text, bool(row.get("competitors")))
        defect = RELIABILITY in analyzer.match_topics(text)
        sentiment = analyse_sentiment(text, churn, defect)
        dense.append(dense_features(sentiment, churn, text))
        ngrams.append(ngram_features(text))
    columns = sorted(set().union(*ngrams))
    position = {key: DENSE + index for index, key in enumerate(columns)}
    matrix = np.zeros((len(rows), DENSE + len(columns)))
    for index, (values, keys) in enumerate(zip(dense, ngrams, strict=True)):
        matrix[index, :DENSE] = values
        for key in keys:
            matrix[index, position[key]] = 1.0
    labels = np.array([LABELS.index(str(row["sentiment"])) for row in rows])
    return matrix, labels, columns


def fit(matrix: Matrix, labels: npt.NDArray[np.int64], l2: float) -> Matrix:
    weights = np.zeros((matrix.shape[1], len(LABELS)))
    targets = np.eye(len(LABELS))[labels]
    for _ in range(EPOCHS):
        logits = matrix @ weights
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        gradient = matrix.T @ (probabilities - targets) / len(labels) + l2 * weights
        weights -= LEARNING_RATE * gradient
    return weights


def cross_validated_accuracy(
    matrix: Matrix, labels: npt.NDArray[np.int64], folds: npt.NDArray[np.int64], l2: float
) -> float:
    correct = 0
    for fold in range(5):
        test = folds == fold
        weights = fit(matrix[~test], labels[~test], l2)
        correct += int(((matrix[test] @ weights).argmax(axis=1) == labels[test]).sum())
    return correct / len(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--textsets", type=Path, default=Path("bench/textsets"))
    args = parser.parse_args()
    rows = load_train(args.textsets)
    matrix, labels, columns = features(rows)
    folds = np.array([zlib.crc32(str(row["id"]).encode()) % 5 for row in rows])
    scores = {l2: cross_validated_accuracy(matrix, labels, folds, l2) for l2 in L2_CANDIDATES}
    for l2, accuracy in scores.items():
        print(f"l2={l2:g}: 5-fold accuracy on train {accuracy:.3f}")
    best = max(L2_CANDIDATES, key=lambda l2: (scores[l2], l2))
    weights = fit(matrix, labels, best)
    model = SentimentModel(
        weights[:DENSE].tolist(),
        {key: weights[DENSE + index].tolist() for index, key in enumerate(columns)},
    )
    out = Path(__file__).parent / "data" / MODEL_FILE
    about = {
        "what": "multinomial logistic regression: lexicon evidence + character/word n-grams",
        "trained_on": f"bench/textsets {', '.join(SETS + EXTRA_SETS)}, split train, "
        f"{len(rows)} rows",
        "l2": best,
        "epochs": EPOCHS,
        "cross_validated_accuracy": round(scores[best], 4),
        "command": "python -m cxloop.text.train_model",
    }
    out.write_text(model.to_json(about) + "\n", encoding="utf-8")
    print(f"l2={best:g} chosen; wrote {out} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
