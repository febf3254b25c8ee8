"""Sign-in's timing rule and address keys (no database)."""

from __future__ import annotations

import hashlib

import pytest

from cxloop.access import address_key, hash_password, verify_password
from cxloop.access import login as login_module


async def test_an_unknown_email_still_runs_one_verification(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verified: list[tuple[str, str]] = []
    real = verify_password

    def counting(stored: str, password: str) -> bool:
        verified.append((stored, password))
        return real(stored, password)

    monkeypatch.setattr(login_module, "verify_password", counting)
    # No stored hash (unknown email, or a person without a password yet): a dummy argon2id
    # verification runs all the same, and the answer is no.
    assert await login_module.check_password(None, "correct horse battery") is False
    assert len(verified) == 1
    assert verified[0][0].startswith("$argon2id$")
    assert verified[0][1] == "correct horse battery"
    # A known person: one verification against their hash, exactly as costly.
    stored = hash_password("correct horse battery")
    assert await login_module.check_password(stored, "correct horse battery") is True
    assert await login_module.check_password(stored, "wrong horse battery") is False
    assert len(verified) == 3
    assert verified[0][0].split("$")[3] == stored.split("$")[3]  # same parameters: same cost


def test_address_keys_are_hashes_of_the_address() -> None:
    assert address_key("203.0.113.7") == hashlib.sha256(b"203.0.113.7").hexdigest()
    assert address_key("203.0.113.7") != address_key("203.0.113.8")
    assert address_key(None) == address_key(None) == hashlib.sha256(b"unknown").hexdigest()
