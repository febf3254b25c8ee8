"""``cxloop tokens …``."""

from __future__ import annotations

import click

__all__ = ["tokens_group"]


@click.group("tokens")
def tokens_group() -> None:
    """SKELETON: filled in by the team helper."""
