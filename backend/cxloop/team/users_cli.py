"""``cxloop users …``."""

from __future__ import annotations

import click

__all__ = ["users_group"]


@click.group("users")
def users_group() -> None:
    """SKELETON: filled in by the team helper."""
