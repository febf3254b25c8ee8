"""Values from the public write key made safe for PostgreSQL ``text`` and ``jsonb``; pure functions.

PostgreSQL refuses NUL in ``text`` (even escaped as ``\\u0000`` in ``jsonb``), unpaired UTF-16
surrogates (asyncpg cannot even encode them; ``jsonb`` refuses the escapes) and numbers beyond
``numeric``'s range in ``jsonb``. Each becomes U+FFFD (a number: its text), so one visitor's
payload can never fail a write of everyone else's data. The common case costs an ``in`` check.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import msgspec

__all__ = ["REPLACEMENT", "pg_json", "pg_json_numbers", "pg_text", "pg_text_or_none", "pg_value"]

REPLACEMENT = "\ufffd"

_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON escape of NUL or of a surrogate, preceded by an even run of backslashes (so an escaped
# backslash followed by "u0000" is left alone); a valid pair is matched whole and kept.
_ESCAPE = re.compile(
    r"(?<!\\)((?:\\\\)*)\\u(0000|[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|[dD][89a-fA-F][0-9a-fA-F]{2})"
)
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_MAX_WEIGHT = 131_000
_MIN_EXPONENT = -16_000
_MIN_LONG_DECIMALS = -_MIN_EXPONENT

_decode_exact = msgspec.json.Decoder(float_hook=Decimal).decode
_encode_exact = msgspec.json.Encoder(decimal_format="number").encode


def pg_text(value: str) -> str:
    """``value`` with NUL and unpaired surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", REPLACEMENT)
    if value.isascii() or _SURROGATE.search(value) is None:
        return value
    return _SURROGATE.sub(REPLACEMENT, value)


def pg_text_or_none(value: str | None) -> str | None:
    return None if value is None else pg_text(value)


def pg_value(value: Any) -> Any:
    """A decoded JSON-like value with every string (keys too) made safe by ``pg_text``, and
    non-finite floats (not JSON) as None."""
    if isinstance(value, str):
        return pg_text(value)
    if isinstance(value, dict):
        return {pg_value(k): pg_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [pg_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fix_escape(match: re.Match[str]) -> str:
    if len(match.group(2)) > 4:  # a valid surrogate pair
        return match.group(0)
    return match.group(1) + "\\ufffd"


def _safe_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        last_digit = value.as_tuple().exponent
        assert isinstance(last_digit, int)  # finite
        if value.adjusted() >= _MAX_WEIGHT or last_digit < _MIN_EXPONENT:
            return str(value)
        return value
    if isinstance(value, dict):
        return {k: _safe_number(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe_number(v) for v in value]
    return value


def pg_json(raw: str) -> str:
    """JSON text whose strings ``jsonb`` accepts: NUL and unpaired-surrogate escapes become
    ``\\ufffd``; anything else is unchanged (text that is not JSON is returned as it is, for the
    caller's parser to refuse). Numbers: see ``pg_json_numbers``."""
    if "\\u" in raw and _SUSPECT_ESCAPE.search(raw) is not None:
        raw = _ESCAPE.sub(_fix_escape, raw)
    if "\x00" in raw:  # not JSON at all; still never sent to PostgreSQL as it is
        raw = raw.replace("\x00", REPLACEMENT)
    return raw


def pg_json_numbers(raw: str, *, refused_as_double: bool = False) -> str:
    """``raw`` with numbers beyond ``numeric`` (1e200000, 1e-20000) as strings (re-encoded when
    checked; text that is not JSON is returned unchanged). A number can only be beyond ``numeric`` if a
    double-based parser refused it (too large: say so with ``refused_as_double``) or it is
    tiny (a double reads 1e-20000 as 0): a negative exponent, or a long run of decimals."""
    if not (refused_as_double or "e-" in raw or "E-" in raw or len(raw) > _MIN_LONG_DECIMALS):
        return raw
    try:
        decoded = _decode_exact(raw)
    except (msgspec.DecodeError, RecursionError):
        return raw
    # Re-encoded even when nothing changed: a duplicate key may hide a refused number that
    # jsonb would still parse (it keeps the last value, as the decoder did).
    return _encode_exact(_safe_number(decoded)).decode()
