"""Regular expressions over many literal terms: a trie, so matching stays linear in the text
whatever the number of terms and the longest term wins at each position."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD_CHAR = re.compile(r"[0-9a-z]")
_END_OF_WORD = r"(?![0-9a-z])"


def trie_pattern(terms: Iterable[str], word_bounded: bool = False) -> str:
    """A pattern matching any of `terms`, longest first. With `word_bounded`, a term that ends in
    a Latin letter or digit must not be followed by one ("bi" does not match in "mobile");
    callers add the matching look-behind for the start."""
    root: dict[str, object] = {}
    for term in terms:
        if not term:
            continue
        node = root
        for ch in term:
            child = node.setdefault(ch, {})
            assert isinstance(child, dict)
            node = child
        node[""] = True
    if not root:
        return "(?!)"
    return _node_pattern(root, "", word_bounded)


def _node_pattern(node: dict[str, object], last: str, word_bounded: bool) -> str:
    branches: list[str] = []
    for ch in sorted(k for k in node if k):
        child = node[ch]
        assert isinstance(child, dict)
        branches.append(re.escape(ch) + _node_pattern(child, ch, word_bounded))
    if "" in node:
        end = _END_OF_WORD if word_bounded and _WORD_CHAR.match(last) else ""
        branches.append(end)  # after the longer branches: greedy, longest term first
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"
