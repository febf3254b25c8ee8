"""``cxloop members …``."""

from __future__ import annotations

import click

__all__ = ["members_group"]


@click.group("members")
def members_group() -> None:
    """SKELETON: filled in by the team helper."""
