"""The session cookie's derived values: its stored hash and its CSRF token (no database)."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cxloop.access import csrf_matches, csrf_token
from cxloop.access.sessions import session_hash


def test_the_csrf_token_is_derived_from_the_cookie_and_only_from_it() -> None:
    cookie = secrets.token_urlsafe(32)
    token = csrf_token(cookie)
    expected = hashlib.sha256(b"cxloop csrf token\x00" + cookie.encode()).digest()
    assert token == base64.urlsafe_b64encode(expected).rstrip(b"=").decode()
    assert len(token) == 43 and "=" not in token and "+" not in token and "/" not in token
    assert csrf_token(cookie) == token  # stable: every worker derives the same one
    assert csrf_token(secrets.token_urlsafe(32)) != token
    # Neither the cookie nor what the table stores of it.
    assert token != cookie and token != session_hash(cookie)


def test_csrf_matches_only_the_session_own_token() -> None:
    cookie = secrets.token_urlsafe(32)
    other = secrets.token_urlsafe(32)
    assert csrf_matches(cookie, csrf_token(cookie))
    assert csrf_matches(cookie, f" {csrf_token(cookie)} ")
    assert not csrf_matches(cookie, None)
    assert not csrf_matches(cookie, "")
    assert not csrf_matches(cookie, csrf_token(other))
    assert not csrf_matches(cookie, cookie)
    assert not csrf_matches(cookie, csrf_token(cookie)[:-1])


def test_the_table_stores_the_sha256_of_the_cookie() -> None:
    cookie = secrets.token_urlsafe(32)
    assert session_hash(cookie) == hashlib.sha256(cookie.encode()).hexdigest()
    assert cookie not in session_hash(cookie)
