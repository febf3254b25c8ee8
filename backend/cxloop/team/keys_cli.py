"""``cxloop keys …``."""

from __future__ import annotations

import click

__all__ = ["keys_group"]


@click.group("keys")
def keys_group() -> None:
    """SKELETON: filled in by the team helper."""
