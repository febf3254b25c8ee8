"""The answer of ``GET /v1/insights/drivers/usage`` (docs/insights-drivers.md)."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["CorrelatedPair", "FeatureDriver", "UsageDrivers"]


class FeatureDriver(msgspec.Struct, kw_only=True):
    """One key feature: raters who used it in the window before rating against those who did
    not, and its share of what usage explains of the rating."""

    feature: str
    users: int  # raters who used the feature in the window_days before rating
    non_users: int
    users_metric: float | None  # the kind's metric (see UsageDrivers.metric)
    users_low: float | None  # its 95% interval
    users_high: float | None
    non_users_metric: float | None
    non_users_low: float | None
    non_users_high: float | None
    difference: float | None  # users − non-users
    difference_low: float | None
    difference_high: float | None
    # The interval excludes 0 and both sides have at least 10 raters.
    significant: bool
    # Johnson's relative weight of the feature as a share of R² (0–1), and its rank (1 = the
    # feature that explains most); null when there is no ranking (see notes) or the feature
    # was left out of it (used by every rater or by none).
    share_of_r2: float | None
    rank: int | None


class CorrelatedPair(msgspec.Struct):
    """Two features whose usage is correlated beyond 0.7: they share their credit."""

    a: str
    b: str
    correlation: float


class UsageDrivers(msgspec.Struct, kw_only=True):
    kind: str
    metric: Literal["nps", "percent_satisfied", "mean"]
    since: str = msgspec.field(name="from")  # rating dates, inclusive (ISO)
    until: str = msgspec.field(name="to")
    window_days: int
    raters: int  # responses with a score of this kind in the period
    overall: float | None  # the metric over every rater
    r_squared: float | None  # of the rating on every ranked feature's usage indicator
    ranked: bool  # false: too few raters or features to rank (see notes)
    features: list[FeatureDriver]
    correlated: list[CorrelatedPair]
    notes: list[str]
