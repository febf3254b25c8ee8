"""Health calibration's cost: the weight fit with its 5-fold back-test, by number of accounts.

    .venv/bin/python bench/bench_calibrate.py [--sizes 120 1000 5000] [--repeat 5]

Random component rows (seed 1, 10 % churners). The baseline in the same run is one ROC AUC of the
current weights over the same rows (what scoring the population once costs), so the ratio says
how many such passes the fit and its back-test are worth.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from cxloop.health.calibrate import NAMES, _fit_and_backtest, roc_auc
from cxloop.health.score import DEFAULT_WEIGHTS


def _rows(n: int, rng: random.Random) -> tuple[list[list[float]], list[bool]]:
    return [[rng.random() for _ in NAMES] for _ in range(n)], [rng.random() < 0.1 for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[120, 1000, 5000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(1)
    weights = dict(DEFAULT_WEIGHTS)
    print(f"{'accounts':>9} {'fit + back-test':>16} {'one AUC pass':>13} {'ratio':>7}")
    for n in args.sizes:
        rows, labels = _rows(n, rng)
        fits, aucs = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            _fit_and_backtest(rows, labels, weights, 5)
            fits.append(time.perf_counter() - start)
            start = time.perf_counter()
            roc_auc(
                [-sum(w * r for w, r in zip(weights.values(), row, strict=False)) for row in rows],
                labels,
            )
            aucs.append(time.perf_counter() - start)
        fit, auc = statistics.median(fits), statistics.median(aucs)
        print(f"{n:>9} {fit * 1000:>13.0f} ms {auc * 1000:>10.1f} ms {fit / auc:>7.0f}×")


if __name__ == "__main__":
    main()
