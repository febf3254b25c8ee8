"""How well a risk ranks the accounts that will churn: ROC AUC, per archetype pair, baselines.

ROC AUC is the Mann–Whitney U statistic scaled to [0, 1]: the chance that a random churner has a
higher risk than a random healthy account, ties counting one half. 0.5 is a coin; 1 is perfect.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .model import ARCHETYPES, Population

__all__ = [
    "Evaluation",
    "auc_standard_error",
    "average_ranks",
    "evaluate",
    "format_report",
    "oracle_ceiling",
    "recent_vs_previous",
    "roc_auc",
]


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = (start + end) / 2 + 1
        for position in range(start, end + 1):
            ranks[order[position]] = shared
        start = end + 1
    return ranks


def roc_auc(risks: Sequence[float], labels: Sequence[bool]) -> float:
    """P(risk of a positive > risk of a negative) + ½ P(equal), by Mann–Whitney U."""
    if len(risks) != len(labels):
        raise ValueError(f"{len(risks)} risks for {len(labels)} labels")
    if any(math.isnan(r) for r in risks):
        raise ValueError("a risk is NaN: rank only numbers")
    positives = sum(1 for label in labels if label)
    negatives = len(labels) - positives
    if not positives or not negatives:
        raise ValueError("ROC AUC needs at least one positive and one negative")
    ranks = average_ranks(risks)
    rank_sum = sum(rank for rank, label in zip(ranks, labels, strict=True) if label)
    u = rank_sum - positives * (positives + 1) / 2
    return u / (positives * negatives)


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982): the AUC's standard error from its value and the class sizes."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    return math.sqrt(max(variance, 0.0))


def recent_vs_previous(daily_usage: Mapping[int, int], window: int = 14) -> float:
    """Usage events in the last ``window`` days over the ``window`` days before (add-one)."""
    recent = sum(daily_usage.get(k, 0) for k in range(window))
    previous = sum(daily_usage.get(k, 0) for k in range(window, 2 * window))
    return (recent + 1) / (previous + 1)


def oracle_ceiling(accounts: Sequence[Any], irreducible: str = "lookalike") -> float:
    """The best AUC any score can reach on these accounts: an oracle that knows every churner
    except the ``irreducible`` archetype's (drawn exactly like healthy accounts), which it can
    only tie with the healthy ones."""
    labels = [a.churns for a in accounts]
    risks = [1.0 if a.churns and a.archetype != irreducible else 0.0 for a in accounts]
    return roc_auc(risks, labels)


@dataclass
class Evaluation:
    accounts: int
    churners: int
    unscored: list[str]
    auc: float
    auc_se: float
    baselines: dict[str, float]
    pairs: dict[str, dict[str, float]]  # churn archetype → healthy archetype → AUC
    by_archetype: dict[str, dict[str, Any]]
    ceiling: float = 1.0  # the oracle's AUC: what the lookalike archetype leaves reachable

    def as_dict(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "churners": self.churners,
            "unscored": self.unscored,
            "auc": round(self.auc, 4),
            "auc_95ci": [
                round(self.auc - 1.96 * self.auc_se, 4),
                round(self.auc + 1.96 * self.auc_se, 4),
            ],
            "ceiling": round(self.ceiling, 4),
            "baselines": {k: round(v, 4) for k, v in self.baselines.items()},
            "pairs": {c: {h: round(v, 4) for h, v in row.items()} for c, row in self.pairs.items()},
            "by_archetype": self.by_archetype,
        }


def evaluate(
    population: Population, health: Mapping[str, Mapping[str, Any]], seed: int = 0
) -> Evaluation:
    """Score the health API's answer (``account_id`` → ``{score, band, confidence}``) against
    the population's labels. Accounts the API did not score are listed, not guessed."""
    scored = [a for a in population.accounts if a.account_id in health]
    unscored = [a.account_id for a in population.accounts if a.account_id not in health]
    labels = [a.churns for a in scored]
    risk = [100.0 - float(health[a.account_id]["score"]) for a in scored]
    auc = roc_auc(risk, labels)
    churners = sum(labels)

    # Baselines in the same run, from the generator's own record of what it sent.
    trend_risk = [-recent_vs_previous(a.daily_usage) for a in scored]
    coin = random.Random(f"cxloop-sim-coin:{seed}")
    baselines = {
        "usage_14d_vs_previous_14d": roc_auc(trend_risk, labels),
        "random": roc_auc([coin.random() for _ in scored], labels),
    }

    kinds = sorted({a.archetype for a in scored}, key=list(ARCHETYPES).index)
    churn_kinds = [k for k in kinds if ARCHETYPES[k].churns]
    healthy_kinds = [k for k in kinds if not ARCHETYPES[k].churns]
    pairs: dict[str, dict[str, float]] = {}
    for churn_kind in churn_kinds:
        row: dict[str, float] = {}
        for healthy_kind in [*healthy_kinds, "all"]:
            members = [
                i
                for i, a in enumerate(scored)
                if a.archetype == churn_kind
                or (not a.churns and healthy_kind in ("all", a.archetype))
            ]
            row[healthy_kind] = roc_auc([risk[i] for i in members], [labels[i] for i in members])
        pairs[churn_kind] = row

    by_archetype: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        rows = [(a, health[a.account_id]) for a in scored if a.archetype == kind]
        scores = sorted(float(h["score"]) for _, h in rows)
        bands: dict[str, int] = {}
        for _, h in rows:
            bands[str(h.get("band"))] = bands.get(str(h.get("band")), 0) + 1
        by_archetype[kind] = {
            "accounts": len(rows),
            "churns": ARCHETYPES[kind].churns,
            "median_score": scores[len(scores) // 2],
            "mean_score": round(sum(scores) / len(scores), 1),
            "bands": bands,
            "low_confidence": sum(1 for _, h in rows if h.get("confidence") == "low"),
        }
    return Evaluation(
        accounts=len(scored),
        churners=churners,
        unscored=unscored,
        auc=auc,
        auc_se=auc_standard_error(auc, churners, len(scored) - churners),
        baselines=baselines,
        pairs=pairs,
        by_archetype=by_archetype,
        ceiling=oracle_ceiling(scored),
    )


def format_report(title: str, evaluation: Evaluation, target: float = 0.85) -> str:
    e = evaluation
    verdict = "meets" if e.auc >= target else "BELOW"
    lines = [
        f"== {title}: {e.accounts} accounts scored, {e.churners} will churn"
        + (f", {len(e.unscored)} NOT scored" if e.unscored else ""),
        f"ROC AUC of risk = 100 − score: {e.auc:.3f} "
        f"(95% CI {e.auc - 1.96 * e.auc_se:.3f}–{e.auc + 1.96 * e.auc_se:.3f}; "
        f"{verdict} the {target} target)",
        f"ceiling (an oracle knowing every churner but the lookalikes): {e.ceiling:.3f}",
        "baselines in the same run:",
        *(f"  {name:<28} {value:.3f}" for name, value in e.baselines.items()),
        "",
        "AUC per pair (churners of a row against healthy accounts of a column):",
    ]
    healthy = list(next(iter(e.pairs.values()), {}))
    width = max((len(h) for h in healthy), default=8) + 2
    lines.append(" " * 12 + "".join(f"{h:>{width}}" for h in healthy))
    for churn_kind, row in e.pairs.items():
        lines.append(f"{churn_kind:<12}" + "".join(f"{row[h]:>{width}.3f}" for h in healthy))
    lines += ["", "scores by archetype (median, mean, bands, low confidence):"]
    for kind, stats in e.by_archetype.items():
        bands = " ".join(f"{b}={n}" for b, n in sorted(stats["bands"].items()))
        mark = "churns " if stats["churns"] else "healthy"
        lines.append(
            f"  {kind:<16} {mark} n={stats['accounts']:<4} median {stats['median_score']:>5.1f}"
            f"  mean {stats['mean_score']:>5.1f}  {bands}  low={stats['low_confidence']}"
        )
    return "\n".join(lines)
