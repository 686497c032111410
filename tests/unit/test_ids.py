"""The forms of ids and numbers (domain/ids.py) and the starter's argument checking: every id
option of every command has a form, a bad value is exit 2 naming the option and the form,
and nothing is parsed into a process id that Temporal or PostgreSQL would choke on."""

import pytest

import starter
from client.failures import BAD_INPUT, Failure
from domain import ids

BAD_CODES = [
    "",
    "ACME'; DROP TABLE accounts;--",
    "ACME\n",
    "AC\nME",
    "AC ME",
    "ÄCME",
    "ＡＣＭＥ",
    "ACME\u202e",
    "-ACME",
    "A" * 41,
    "acme_1",
    "ACME.1",
    "../etc",
    "ACME\x00",
]


@pytest.mark.parametrize(
    "text", ["ACME", "PBX-ACME", "P-NORDTEL", "C-FJORD-1", "T1A2B3", "K-FJORD-2024", "A" * 40, "a1"]
)
def test_codes_of_letters_digits_and_dashes_are_accepted(text):
    assert ids.checked(ids.CODE, text) == text


@pytest.mark.parametrize("text", BAD_CODES)
def test_other_codes_are_refused_with_the_form(text):
    with pytest.raises(ids.IdError) as err:
        ids.checked(ids.CODE, text, "--account")
    assert str(err.value) == "--account: use letters, digits and - (at most 40), e.g. ACME"


@pytest.mark.parametrize(
    "form, good, bad",
    [
        (ids.USER, ["cm-eva", "john.doe", "staff_e2e", "C-NORD-1"], ["eva\n", "eva smith", "é"]),
        (ids.NAME, ["fair-2026", "L-17", "OPP-L-17", "q"], ["fair 2026", "x" * 65, "L-1\r"]),
        (
            ids.PROCESS,
            ["fast-change-order-ACME-1a2b3c4d", "lead-queue-fair.2026"],
            ["x" * 201, "a b", "id\n"],
        ),
        (
            ids.REQUEST,
            ["retry-7f3a", "2f1c0c9e-2b7a-4c51-9a0e-3d1b0b7f8c11", "job:17"],
            ["a/b", "", "x" * 101],
        ),
    ],
)
def test_each_form(form, good, bad):
    assert all(form.matches(t) for t in good)
    assert not any(form.matches(t) for t in bad)


@pytest.mark.parametrize(
    "text, message",
    [
        ("99999999999999999999", "--ticket: give a whole number from 1 to 9223372036854775807"),
        ("0", "--ticket: give a whole number from 1 to 9223372036854775807"),
        ("12abc", "--ticket: give a whole number from 1 to 9223372036854775807, not '12abc'"),
        (
            "١٢",
            "--ticket: give a whole number from 1 to 9223372036854775807, not '\\\\u0661\\\\u0662'",
        ),
    ],
)
def test_numbers_are_checked_against_their_range(text, message):
    with pytest.raises(ids.IdError) as err:
        ids.number(text, 1, ids.BIGINT_MAX, "--ticket")
    assert str(err.value) == message


def test_numbers_in_range_are_read():
    assert ids.number(" 1001 ", 1, ids.BIGINT_MAX) == 1001
    assert ids.number(str(ids.BIGINT_MAX), 1, ids.BIGINT_MAX) == ids.BIGINT_MAX


# --- the starter's arguments ----------------------------------------------------------------


def refusal(*argv: str) -> str:
    with pytest.raises(Failure) as failure:
        starter.parser().parse_args(list(argv))
    assert failure.value.code == BAD_INPUT
    return str(failure.value)


FAST = ["fast-change", "--pbx", "PBX-ACME", "--set", "Premium=6"]


# (empty and "-ACME" are refused by argparse itself: "expected one argument")
@pytest.mark.parametrize("text", [t for t in BAD_CODES if t and not t.startswith("-")])
def test_a_bad_account_is_bad_input_naming_the_option(text):
    assert refusal(*FAST, "--account", text) == (
        "--account: use letters, digits and - (at most 40), e.g. ACME"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        ([*FAST, "--account", "ACME", "--ref", "x' OR '1'='1"], "--ref: use letters, digits"),
        ([*FAST, "--account", "ACME", "--ref", "r" * 1200], "--ref: use letters, digits"),
        (
            [
                "renegotiate",
                "--ticket",
                "99999999999999999999",
                "--company",
                "FJORDBYGG",
                "--licences",
                "18",
                "--price",
                "390",
                "--contact",
                "C-FJORD-1",
                "--original-contract",
                "K-FJORD-2024",
            ],
            "--ticket: give a whole number from 1 to",
        ),
        (
            [
                "renegotiate",
                "--ticket",
                "1001",
                "--company",
                "FJORDBYGG",
                "--licences",
                "1e9",
                "--price",
                "390",
                "--contact",
                "C-FJORD-1",
                "--original-contract",
                "K-FJORD-2024",
            ],
            "--licences: give a whole number from 1 to 100000",
        ),
        (
            ["log-time", "--ticket", "1", "--minutes", "5000"],
            "--minutes: give a whole number from 1 to 1440",
        ),
        (["close-ticket", "-1"], "ticket: give a whole number"),
        (["confirm", "fast-change-order-ACME-1\nx"], "PROCESS_ID: use letters, digits"),
        (["confirm", "fast-change-order-ACME-1", "--request-id", "a b"], "--request-id: use"),
        (["confirm", "fast-change-order-ACME-1", "--as", "anna\nroot"], "--as: use letters"),
        (["claim-lead", "--queue", "fair 2026", "--lead", "L-1"], "--queue: use letters"),
        (["assign-lead", "--queue", "q", "--lead", "L-1", "--to", "<b>"], "--to: use letters"),
        (["invite-partner-user", "--partner", "P-NORDTEL", "--contact", "C;1"], "--contact: use"),
        (["list", "--account", "ACME' OR 1=1"], "--account: use letters"),
        (
            [
                "fast-change",
                "--account",
                "ACME",
                "--pbx",
                "PBX-ACME",
                "--set",
                "Premium=6",
                "--wait",
                "0",
            ],
            "--wait: give seconds from 1 to 86400",
        ),
        (["fast-change", "--account", "ACME"], "the following arguments are required"),
    ],
)
def test_bad_arguments_are_bad_input_naming_the_option(argv, message):
    assert refusal(*argv).startswith(message)


# Options whose values become ids: process ids, search attributes, step keys, rows.
ID_OPTIONS = {
    "account",
    "pbx",
    "partner",
    "company",
    "contact",
    "queue",
    "lead",
    "ref",
    "quote",
    "request_id",
    "process_id",
    "to",
    "from_user",
    "opportunity",
    "original_contract",
    "to_partner",
    "to_queue",
    "channel_manager",
    "user",
    "actor",
    "ticket",
    "item",
    "entry",
    "kind",
    "stage",
}


def test_every_id_option_of_every_command_has_a_form():
    parser = starter.parser()
    (sub,) = [a for a in parser._actions if a.dest == "cmd"]
    untyped = sorted(
        f"{name} {action.option_strings or action.dest}"
        for name, command in sub.choices.items()
        for action in command._actions
        if action.dest in ID_OPTIONS
        and action.type is None
        and action.choices is None
        and (name, action.dest) != ("add-lead", "company")
    )  # a lead's company *name*
    assert untyped == []
