"""This node's id in a cluster: a stand-in for the coordination helper's ``node.py``.

``settings.node_id``, or one made once (random, safe characters) and kept durably in
``<data dir>/state/node_id``, so that it survives restarts (claims and lake files carry it).
"""

from __future__ import annotations

import os
import secrets

from cxloop.settings import Settings

__all__ = ["node_id"]

NODE_ID_FILE = "node_id"


def node_id(settings: Settings) -> str:
    """This node's id: the setting, or the one kept in the state directory (made once)."""
    if settings.node_id:
        return settings.node_id
    path = settings.state_dir / NODE_ID_FILE
    try:
        kept = path.read_text().strip()
    except FileNotFoundError:
        kept = ""
    if kept:
        return kept
    path.parent.mkdir(parents=True, exist_ok=True)
    made = "n" + secrets.token_hex(6)
    temp = path.with_name(f".{NODE_ID_FILE}.tmp")
    with open(temp, "w") as file:
        file.write(made + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return made
