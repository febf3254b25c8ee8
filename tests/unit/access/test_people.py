"""Emails as login names, the password rules and the argon2id hashes (no database)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from cxloop.access import AccessError, check_password_rules, hash_password, normalise_email
from cxloop.access.people import needs_rehash, verify_password


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("Ana@Example.COM", "ana@example.com"),
        ("  ana@example.com\n", "ana@example.com"),
        ("ＡＮＡ＠example.com", "ana@example.com"),  # full-width letters and @ (NFKC)
        ("STRASSE@example.de", "strasse@example.de"),
        ("Straße@example.de", "strasse@example.de"),  # casefold, not lower
    ],
)
def test_an_email_is_normalised_to_one_login_name(typed: str, key: str) -> None:
    assert normalise_email(typed) == key


@pytest.mark.parametrize(
    "typed", ["", "ana", "ana@", "@example.com", "ana @example.com", "a@b@c", "x" * 250 + "@e.co"]
)
def test_what_is_not_an_address_is_refused_with_a_message(typed: str) -> None:
    with pytest.raises(AccessError) as refused:
        normalise_email(typed)
    assert refused.value.code == "invalid_email"
    assert refused.value.status == 400
    assert "name@example.com" in refused.value.message


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("short", "at least 10"),
        ("123456789", "at least 10"),
        ("x" * 1025, "longer than 1024"),
        ("a" * 12, "one character repeated"),
        ("ana@example.com", "your email address"),
        ("ANA@EXAMPLE.COM", "your email address"),
        ("ana.martin", None),  # the local part when it is the address's
        ("correct horse battery", None),
        ("ten chars!", None),
        ("é" * 5 + "ü" * 5, None),
        ("xy" * 512, None),
    ],
)
def test_password_rules(password: str, says: str | None) -> None:
    email = "ana@example.com" if password != "ana.martin" else "Ana.Martin@example.com"
    if password == "ana.martin":
        says = "your email address"
    if says is None:
        check_password_rules(password, email)
        return
    with pytest.raises(AccessError) as refused:
        check_password_rules(password, email)
    assert refused.value.code == "weak_password"
    assert says in refused.value.message


def test_the_hash_is_argon2id_with_rfc_9106_low_memory_parameters() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert "correct horse battery" not in stored
    assert stored != hash_password("correct horse battery")  # a fresh salt each time
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")
    assert not verify_password("not a hash", "correct horse battery")
    assert not needs_rehash(stored)


def test_a_password_typed_in_another_unicode_form_still_matches() -> None:
    stored = hash_password("ｃｏｒｒｅｃｔ horse")  # full-width: NFKC makes it ASCII
    assert verify_password(stored, "correct horse")
    composed, decomposed = "caf\u00e9 au lait!", "cafe\u0301 au lait!"
    assert verify_password(hash_password(composed), decomposed)


def test_a_hash_made_with_older_parameters_is_due_a_rehash() -> None:
    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("correct horse")
    assert verify_password(weaker, "correct horse")
    assert needs_rehash(weaker)
    assert needs_rehash("garbage")
