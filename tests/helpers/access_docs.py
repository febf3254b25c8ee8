"""The tables of docs/access.md, read the way the code's tests compare them."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "access.md"


def table(heading: str) -> list[list[str]]:
    """The cells of the first table under ``## heading`` (header and separator rows dropped)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    start = next(i for i, line in enumerate(lines) if set(line) <= set("|- "))
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines[start + 1 :]
    ]


def code(cell: str) -> str:
    """The text of a cell that is one `code` span."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected a `code` cell, got {cell!r}"
    return match.group(1)


def documented_routes() -> dict[tuple[str, str], str]:
    """(method, path) → permission, from the Routes table."""
    return {(row[0], code(row[1])): code(row[2]) for row in table("Routes")}
