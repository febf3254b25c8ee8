"""``cxloop insights``: the feedback-insight questions from a terminal (docs/insights.md).

Each slice of insights registers its commands on ``insights_group`` in its own module; they
are imported at the bottom so ``cxloop insights --help`` lists them all.
"""

from __future__ import annotations

import click

__all__ = ["insights_group"]


@click.group("insights")
def insights_group() -> None:
    """Rating statistics, drill-down, drivers and comment analysis (see docs/insights.md)."""
