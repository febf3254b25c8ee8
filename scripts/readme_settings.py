"""Write the README's settings table from ``cxloop.settings.Settings`` (``make readme``).

``tests/unit/test_readme.py`` fails when the two differ, so a new setting cannot go undocumented.
"""

from __future__ import annotations

from pathlib import Path

from cxloop.settings import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- settings table: generated from cxloop.settings by `make readme` -->\n"
END = "<!-- end of settings table -->"


def main() -> None:
    text = README.read_text(encoding="utf-8")
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not (begin and end):
        raise SystemExit(f"{README}: the settings table's markers are missing")
    README.write_text(f"{head}{BEGIN}{settings_table()}{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
