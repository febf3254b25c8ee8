"""The shipped sentiment model, weak topic terms, and the training script's pieces."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cxloop.text import Analyzer, TextConfig, TopicSpec
from cxloop.text.model import (
    DENSE,
    LABELS,
    SentimentModel,
    ngram_features,
    shipped_model,
)
from cxloop.text.train_model import fit, load_train


def test_the_model_is_shipped_and_well_formed() -> None:
    model = shipped_model()
    assert model is not None
    assert len(model.dense) == DENSE
    assert all(len(row) == len(LABELS) for row in model.dense)
    assert model.sparse and all(key[:2] in ("c1", "c2", "w1", "w2") for key in model.sparse)


def test_probabilities_are_a_softmax_of_the_summed_weights() -> None:
    model = SentimentModel(
        dense=[[0.0] * 4 for _ in range(DENSE - 1)] + [[1.0, 0.0, 0.0, 0.0]],
        sparse={"c1慢": [0.0, 2.0, 0.0, 0.0], "w1slow": [0.0, 0.0, 1.0, 0.0]},
    )
    dense = [0.0] * (DENSE - 1) + [1.0]
    got = model.probabilities(dense, {"c1慢", "w1slow", "w1unseen"})
    logits = [1.0, 2.0, 1.0, 0.0]
    total = sum(math.exp(x) for x in logits)
    assert got == pytest.approx([math.exp(x) / total for x in logits])


def test_ngram_features() -> None:
    assert ngram_features("导出太慢 exports are slow") == {
        *("c1导", "c1出", "c1太", "c1慢", "c2导出", "c2出太", "c2太慢"),
        *("w1export", "w1are", "w1slow", "w2export are", "w2are slow"),
    }


def test_the_lexicon_alone_is_available() -> None:
    lexicon_only = Analyzer(sentiment_model=False)
    with_model = Analyzer()
    for comment in ("非常满意", "经常崩溃，太失望了", "Really love it"):
        assert lexicon_only.analyse(comment).sentiment == with_model.analyse(comment).sentiment
    result = lexicon_only.analyse("The export keeps failing")
    assert result.sentiment == "negative" and result.sentiment_score < 0


def test_the_score_sign_follows_the_label() -> None:
    analyzer = Analyzer()
    for comment in ("非常满意，客服很专业", "Really love the new dashboard"):
        assert analyzer.analyse(comment).sentiment_score > 0
    for comment in ("经常崩溃，太失望了", "The app is slow and buggy"):
        assert analyzer.analyse(comment).sentiment_score < 0


def test_fit_learns_a_separable_problem() -> None:
    matrix = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    labels = np.array([0, 1, 0, 1])
    weights = fit(matrix, labels, l2=1e-3)
    assert list((matrix @ weights).argmax(axis=1)) == [0, 1, 0, 1]


def test_training_reads_only_the_train_split(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    for name in ("comments_en", "comments_zh"):
        rows = [
            {"id": f"{name}-1", "text": "good", "sentiment": "positive", "split": "train"},
            {"id": f"{name}-2", "text": "bad", "sentiment": "negative", "split": "heldout"},
        ]
        (folder / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    loaded = load_train(folder)
    assert [row["id"] for row in loaded] == ["comments_en-1", "comments_zh-1"]


def test_weak_terms_count_only_without_a_plain_match() -> None:
    analyzer = Analyzer()
    # 方便 alone is usability; with 导出 (integration) it describes the export
    assert analyzer.analyse("很方便").topics == ["usability"]
    assert analyzer.analyse("导出很方便").topics == ["integration_import_export"]
    custom = Analyzer(TextConfig(topics=[TopicSpec(id="speed", terms=["~quick"])]))
    assert "speed" in custom.analyse("quick").topics
    assert "speed" not in custom.analyse("quick export").topics


def test_praise_is_not_given_to_a_negative_comment() -> None:
    analyzer = Analyzer()
    assert "praise" in analyzer.analyse("Great product, love it").topics
    assert "praise" not in analyzer.analyse("not great, love to hate it, terrible").topics


def test_the_extra_training_rows_are_train_only_and_share_no_text_with_the_evaluation() -> None:
    from pathlib import Path

    textsets = Path(__file__).resolve().parents[3] / "bench" / "textsets"
    extra = [
        json.loads(line)
        for line in (textsets / "extra_train_en.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(extra) >= 300
    assert all(row["split"] == "train" for row in extra)
    assert len({row["id"] for row in extra}) == len(extra)
    evaluated = {
        json.loads(line)["text"].strip().lower()
        for name in ("comments_en", "comments_zh", "shifted_en", "shifted_zh")
        for line in (textsets / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    assert not [row["id"] for row in extra if row["text"].strip().lower() in evaluated]
    loaded = {str(row["id"]) for row in load_train(textsets)}
    assert {row["id"] for row in extra} <= loaded
