"""Usage drivers of a rating, pure maths (docs/insights-drivers.md).

For each key feature, the raters who used it in the days before rating against those who did
not: the kind's metric for each side with its interval, the difference with its interval and
whether it is significant. Then one ranking that does not double-count correlated features:
Johnson's (2000) relative weights, which split the R² of the rating regressed on every usage
indicator into one non-negative share per feature.

Relative weights: with R the predictors' correlation matrix and r their correlations with the
rating, R = V·diag(λ)·Vᵀ gives Λ = V·diag(√λ)·Vᵀ, the correlations of the predictors with their
closest orthonormal counterparts Z; β = Λ⁻¹·r regresses the rating on Z, and feature j's raw
weight is Σₖ Λⱼₖ²·βₖ². The raw weights sum to R² (Z spans the predictors' space). Two identical
features get half each of what one alone would: nothing is counted twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from cxloop.insights.drivers_schemas import CorrelatedPair, FeatureDriver, UsageDrivers
from cxloop.surveys import Kind, adjusted_wald, mean_interval, segment_of, t_quantile, wilson

__all__ = [
    "CORRELATED_ABOVE",
    "MIN_RATERS_FOR_RANKING",
    "MIN_SIDE",
    "RATERS_PER_FEATURE",
    "Comparison",
    "Metric",
    "RelativeWeights",
    "compare",
    "correlated_pairs",
    "metric_name",
    "metric_of",
    "relative_weights",
    "usage_drivers",
]

Z = 1.96
MetricName = Literal["nps", "percent_satisfied", "mean"]
# A difference is called significant only with this many raters on both sides (issue 15).
MIN_SIDE = 10
# The ranking needs this many raters, and this many per feature ranked (a rule of thumb for
# a regression's stability), else it is left out with a note.
MIN_RATERS_FOR_RANKING = 30
RATERS_PER_FEATURE = 10
# Usage of two features correlated beyond this is flagged: their credit is shared.
CORRELATED_ABOVE = 0.7
# Eigenvalues below this share of the largest are treated as 0 (exactly collinear features).
_RANK_TOLERANCE = 1e-10


@dataclass(frozen=True, slots=True)
class Metric:
    """One side's metric: its value, its 95% interval, and what it rests on."""

    n: int
    value: float | None
    low: float | None
    high: float | None
    # What a difference needs: the point estimate its interval is centred on, and its variance.
    centre: float = 0.0
    variance: float = 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    users: Metric
    non_users: Metric
    difference: float | None
    low: float | None
    high: float | None
    significant: bool


def metric_name(kind: Kind) -> MetricName:
    """nps: NPS −100…100; ces: the mean effort score; else the % satisfied (promoter share)."""
    return "nps" if kind == "nps" else "mean" if kind == "ces" else "percent_satisfied"


def metric_of(kind: Kind, scores: Sequence[float]) -> Metric:
    """The kind's metric over these scores with its interval: NPS with the adjusted-Wald
    interval, a share with Wilson's, CES's mean with Student's t."""
    n = len(scores)
    if n == 0:
        return Metric(0, None, None, None)
    if kind == "ces":
        mean = sum(scores) / n
        variance = sum((s - mean) ** 2 for s in scores) / (n - 1) if n > 1 else 0.0
        interval = mean_interval(n, mean, variance)
        return Metric(n, mean, interval.low, interval.high, mean, variance / n)
    segments = [segment_of(kind, s) for s in scores]
    promoters = segments.count("promoter")
    if kind == "nps":
        detractors = segments.count("detractor")
        centre, half = adjusted_wald(promoters, n - promoters - detractors, detractors, Z)
        value = 100.0 * (promoters - detractors) / n
        return Metric(
            n,
            value,
            max(-100.0, 100.0 * (centre - half)),
            min(100.0, 100.0 * (centre + half)),
            100.0 * centre,
            (100.0 * half / Z) ** 2,
        )
    interval = wilson(promoters, n, Z)
    return Metric(n, 100.0 * interval.estimate, 100.0 * interval.low, 100.0 * interval.high)


def compare(kind: Kind, users: Sequence[float], non_users: Sequence[float]) -> Comparison:
    """Users' metric minus non-users', with its 95% interval: adjusted-Wald variances added for
    NPS, Newcombe's hybrid score interval for shares, Welch's t for CES means. Significant when
    the interval excludes 0 and both sides have at least MIN_SIDE raters."""
    a, b = metric_of(kind, users), metric_of(kind, non_users)
    if a.value is None or b.value is None:
        return Comparison(a, b, None, None, None, False)
    difference = a.value - b.value
    if kind == "nps":
        centre = a.centre - b.centre
        half = Z * math.sqrt(a.variance + b.variance)
        low, high = centre - half, centre + half
    elif kind == "ces":
        se2 = a.variance + b.variance
        if se2 > 0 and a.n > 1 and b.n > 1:
            # Welch–Satterthwaite degrees of freedom.
            df = se2**2 / (a.variance**2 / (a.n - 1) + b.variance**2 / (b.n - 1))
            half = t_quantile(0.975, df) * math.sqrt(se2)
        else:
            half = 0.0 if se2 == 0 and a.n > 1 and b.n > 1 else math.inf
        low, high = difference - half, difference + half
    else:
        assert a.low is not None and a.high is not None and b.low is not None
        assert b.high is not None
        # Newcombe (1998), method 10: from the two Wilson intervals.
        low = difference - math.hypot(a.value - a.low, b.high - b.value)
        high = difference + math.hypot(a.high - a.value, b.value - b.low)
    finite = math.isfinite(low) and math.isfinite(high)
    significant = finite and a.n >= MIN_SIDE and b.n >= MIN_SIDE and (low > 0 or high < 0)
    return Comparison(
        a, b, difference, low if finite else None, high if finite else None, significant
    )


@dataclass(frozen=True, slots=True)
class RelativeWeights:
    raw: npt.NDArray[np.float64]  # one per predictor, summing to r_squared
    r_squared: float
    correlations: npt.NDArray[np.float64]  # the predictors' correlation matrix


def relative_weights(x: npt.ArrayLike, y: npt.ArrayLike) -> RelativeWeights:
    """Johnson's relative weights of the columns of ``x`` (n × p) for ``y`` (n).

    Every column must vary, and so must ``y`` (a constant explains nothing: ValueError)."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.ndim != 2 or ys.shape != (xs.shape[0],) or xs.shape[0] < 2 or xs.shape[1] < 1:
        raise ValueError("relative weights need x of n × p (n ≥ 2, p ≥ 1) and y of n")
    x_sd = xs.std(axis=0)
    y_sd = ys.std()
    if np.any(x_sd == 0) or y_sd == 0:
        raise ValueError("every predictor and the outcome must vary")
    zx = (xs - xs.mean(axis=0)) / x_sd
    zy = (ys - ys.mean()) / y_sd
    n = xs.shape[0]
    rxx = (zx.T @ zx) / n
    rxy = (zx.T @ zy) / n
    eigenvalues, vectors = np.linalg.eigh(rxx)
    eigenvalues = np.where(
        eigenvalues > _RANK_TOLERANCE * max(float(eigenvalues.max()), 1.0), eigenvalues, 0.0
    )
    lam = vectors @ np.diag(np.sqrt(eigenvalues)) @ vectors.T
    beta = np.linalg.pinv(lam, hermitian=True) @ rxy
    raw = (lam**2) @ (beta**2)
    return RelativeWeights(raw=raw, r_squared=float(raw.sum()), correlations=rxx)


def correlated_pairs(
    names: Sequence[str], correlations: npt.NDArray[np.float64], above: float = CORRELATED_ABOVE
) -> list[tuple[str, str, float]]:
    """Pairs of predictors whose correlation exceeds ``above`` in absolute value."""
    out = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            r = float(correlations[i, j])
            if abs(r) > above:
                out.append((names[i], names[j], r))
    return out


def _rounded(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def usage_drivers(
    kind: Kind,
    scores: Sequence[float],
    used: npt.ArrayLike,
    features: Sequence[str],
    *,
    since: str,
    until: str,
    window_days: int,
) -> UsageDrivers:
    """The answer: ``scores`` of the raters, ``used`` (raters × features, true when the rater
    used the feature in the window before rating), per feature and ranked."""
    matrix = np.asarray(used, dtype=bool).reshape(len(scores), len(features))
    values = np.asarray(scores, dtype=np.float64)
    notes: list[str] = []
    rows: list[FeatureDriver] = []
    for j, feature in enumerate(features):
        column = matrix[:, j]
        result = compare(kind, values[column].tolist(), values[~column].tolist())
        rows.append(
            FeatureDriver(
                feature=feature,
                users=result.users.n,
                non_users=result.non_users.n,
                users_metric=_rounded(result.users.value),
                users_low=_rounded(result.users.low),
                users_high=_rounded(result.users.high),
                non_users_metric=_rounded(result.non_users.value),
                non_users_low=_rounded(result.non_users.low),
                non_users_high=_rounded(result.non_users.high),
                difference=_rounded(result.difference),
                difference_low=_rounded(result.low),
                difference_high=_rounded(result.high),
                significant=result.significant,
                share_of_r2=None,
                rank=None,
            )
        )
    varying = [j for j in range(len(features)) if 0 < matrix[:, j].sum() < len(scores)]
    constant = [features[j] for j in range(len(features)) if j not in varying]
    if constant:
        notes.append("not ranked, used by every rater or by none: " + ", ".join(constant))
    r_squared: float | None = None
    correlated: list[CorrelatedPair] = []
    needed = max(MIN_RATERS_FOR_RANKING, RATERS_PER_FEATURE * len(varying))
    ranked = False
    if len(scores) < needed:
        notes.append(
            f"no ranking: {len(scores)} raters, and ranking {len(varying)} feature(s) needs "
            f"at least {needed} (10 per feature, 30 at least); widen the period"
        )
    elif not varying:
        notes.append("no ranking: no feature separates users from non-users among the raters")
    elif values.std() == 0:
        notes.append("no ranking: every rater gave the same score")
    else:
        weights = relative_weights(matrix[:, varying].astype(np.float64), values)
        r_squared = weights.r_squared
        ranked = True
        order = sorted(range(len(varying)), key=lambda k: -weights.raw[k])
        for position, k in enumerate(order, start=1):
            row = rows[varying[k]]
            row.share_of_r2 = round(float(weights.raw[k]) / r_squared, 4) if r_squared > 0 else 0.0
            row.rank = position
        names = [features[j] for j in varying]
        correlated = [
            CorrelatedPair(a, b, round(r, 3))
            for a, b, r in correlated_pairs(names, weights.correlations)
        ]
        if correlated:
            notes.append(
                "usage of some features goes together (correlation > 0.7): the ranking splits "
                "their credit between them; the per-feature differences do not"
            )
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0, r.feature))
    return UsageDrivers(
        kind=kind,
        metric=metric_name(kind),
        since=since,
        until=until,
        window_days=window_days,
        raters=len(scores),
        overall=_rounded(metric_of(kind, values.tolist()).value),
        r_squared=_rounded(r_squared, 4),
        ranked=ranked,
        features=rows,
        correlated=correlated,
        notes=notes,
    )
