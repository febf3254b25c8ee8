"""``cxloop privacy …``: delete, export, requests, retention."""

from __future__ import annotations

import click

from cxloop.privacy.cli_delete import delete_command

__all__ = ["privacy_group"]


@click.group("privacy")
def privacy_group() -> None:
    """Serve data subjects' rights: delete, export, and the retention of events."""


privacy_group.add_command(delete_command)
