"""Partner users: the first login's credentials and who may receive leads."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.partners import (
    LOGIN_LINK_VALID,
    MIN_PASSWORD_LENGTH,
    FirstLogin,
    PartnerAccountRequest,
    PartnerRoster,
    eligible_users,
    first_login_refusal,
    hash_password,
    is_password_hash,
    lead_refusal,
    needs_rehash,
    partner_account_process_id,
    password_problems,
    scrypt_hash,
    token_digest,
    verify_password,
)

SALT = b"0123456789abcdef"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# --- passwords and the login link -------------------------------------------------------------


def test_a_password_hash_is_argon2id_and_verifies_only_its_password():
    stored = hash_password("Fjord-Lynx-2026!")
    assert stored.startswith("$argon2id$") and "Fjord" not in stored
    assert is_password_hash(stored)
    assert verify_password("Fjord-Lynx-2026!", stored)
    assert not verify_password("Fjord-Lynx-2026?", stored)
    assert not needs_rehash(stored)


def test_an_old_scrypt_hash_still_verifies_and_asks_to_be_replaced():
    old = scrypt_hash("Fjord-Lynx-2026!", SALT)
    assert old.startswith("scrypt$16384$8$1$") and is_password_hash(old)
    assert verify_password("Fjord-Lynx-2026!", old)
    assert not verify_password("Fjord-Lynx-2026?", old)
    assert needs_rehash(old)


def test_an_argon2_hash_with_weaker_parameters_asks_to_be_replaced():
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("Fjord-Lynx-2026!")
    assert verify_password("Fjord-Lynx-2026!", weak)
    assert needs_rehash(weak)


def test_the_same_password_with_another_salt_hashes_differently():
    assert hash_password("Fjord-Lynx-2026!", SALT) != hash_password(
        "Fjord-Lynx-2026!", b"fedcba9876543210"
    )


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "md5$x$y$z$a$b",
        "scrypt$x$8$1$AA==$AA==",
        "$argon2id$v=19$m=65536,t=3,p=4$broken",
    ],
)
def test_a_malformed_stored_hash_never_verifies(stored):
    assert not verify_password("anything", stored)


@pytest.mark.parametrize(
    "value, ok",
    [
        (hash_password("Fjord-Lynx-2026!", SALT), True),
        ("scrypt$1$2$3$4", False),
        ("scrypt$16384$8$1$$abc", False),
        (scrypt_hash("Fjord-Lynx-2026!", SALT), True),
        ("$argon2id$v=19$m=65536,t=3,p=4$broken", False),
        ("Fjord-Lynx-2026!", False),
    ],
)
def test_what_counts_as_a_password_hash(value, ok):
    assert is_password_hash(value) is ok


def test_the_token_digest_is_its_sha256():
    assert token_digest("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


@pytest.mark.parametrize(
    "password, problem",
    [
        ("x" * 0, f"needs at least {MIN_PASSWORD_LENGTH} characters"),
        ("Fjord-Lynx1", f"needs at least {MIN_PASSWORD_LENGTH} characters"),  # 11
        (" Fjord-Lynx-2026", "must not start or end with a space"),
        ("C-NORD-1-Fjord!!", "must not contain the user name C-NORD-1"),
        ("abababababab", "needs at least 5 different characters"),
    ],
)
def test_a_weak_password_is_named_for_what_it_lacks(password, problem):
    assert problem in password_problems(password, "C-NORD-1")


def test_a_good_password_of_exactly_the_minimum_length_passes():
    assert password_problems("Fjord-Lynx-1", "C-NORD-1") == []  # 12


def test_first_login_refusals():
    digest, expires = token_digest("t0k3n"), NOW + LOGIN_LINK_VALID
    ok = first_login_refusal("invited", digest, expires, digest, NOW)
    assert ok is None
    assert first_login_refusal("active", None, None, digest, NOW) is None  # a repeat
    assert "deactivated" in first_login_refusal("inactive", digest, expires, digest, NOW)
    assert "not valid" in first_login_refusal(
        "invited", digest, expires, token_digest("other"), NOW
    )
    assert "not valid" in first_login_refusal("invited", None, expires, digest, NOW)


def test_the_login_link_is_valid_until_just_before_it_expires():
    digest = token_digest("t0k3n")
    expires = NOW + LOGIN_LINK_VALID
    last_second = expires - timedelta(seconds=1)
    assert first_login_refusal("invited", digest, expires, digest, last_second) is None
    assert "expired" in first_login_refusal("invited", digest, expires, digest, expires)


def test_a_first_login_carries_digests_only():
    with pytest.raises(ValidationError):
        FirstLogin(
            actor="C-1",
            token_digest="the-token-itself",
            password_hash=hash_password("Fjord-Lynx-2026!", SALT),
        )


# --- who may receive leads --------------------------------------------------------------------


def roster(active: bool = True, **users) -> PartnerRoster:
    return PartnerRoster(partner_id="P-X", version=1, active=active, users=users)


@pytest.mark.parametrize(
    "users, active, reason",
    [
        ({}, True, "is not a user of any partner"),
        ({"U2": "active"}, True, "is not a user of any partner"),
        ({"U1": "invited"}, True, "has not logged in yet"),
        ({"U1": "inactive"}, True, "U1 is deactivated"),
        ({"U1": "active"}, False, "partner account P-X is deactivated"),
    ],
)
def test_only_an_active_user_who_has_logged_in_may_receive_leads(users, active, reason):
    assert reason in lead_refusal("U1", roster(active, **users))


def test_an_active_user_who_has_logged_in_may_receive_leads():
    assert lead_refusal("U1", roster(U1="active")) is None
    assert "any partner" in lead_refusal("U1", None)


def test_eligible_users_in_a_fixed_order():
    assert eligible_users(roster(U3="active", U1="active", U2="invited", U4="inactive")) == [
        "U1",
        "U3",
    ]
    assert eligible_users(roster(False, U1="active")) == []


def test_a_partner_account_request_and_its_process_id():
    assert partner_account_process_id("P-NORDTEL") == "partner-account-P-NORDTEL"
    with pytest.raises(ValidationError):
        PartnerAccountRequest(partner_id="P NORDTEL", channel_manager="cm", requested_by="cm")
