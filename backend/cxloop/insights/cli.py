"""``cxloop insights``: the feedback-insight questions from a terminal (docs/insights.md).

Each slice of insights registers its commands on ``insights_group`` in its own module
(``ratings_cli``, ``text_cli``, ``drivers_cli``); ``cxloop.insights`` imports them all so
``cxloop insights --help`` lists them. The helpers they share are here.
"""

from __future__ import annotations

import click
from rich.console import Console

from cxloop.projects import project_option_id as project_id

__all__ = ["console", "insights_group", "number", "project_id"]


@click.group("insights")
def insights_group() -> None:
    """Rating statistics, drill-down, drivers and comment analysis (see docs/insights.md)."""


def number(value: float | None, digits: int = 1) -> str:
    """A figure for a table: rounded, or a dash when there is none."""
    return "–" if value is None else f"{value:.{digits}f}"


def console() -> Console:
    """The terminal, or a wide virtual one when the output is piped (tables stay whole)."""
    terminal = Console()
    return terminal if terminal.is_terminal else Console(width=200)
