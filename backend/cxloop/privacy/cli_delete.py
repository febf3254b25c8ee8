"""``cxloop privacy delete``."""

from __future__ import annotations

import click

__all__ = ["delete_command"]


@click.command("delete")
def delete_command() -> None:
    """SKELETON: filled in by the deletion helper."""
