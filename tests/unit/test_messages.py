"""Messages in the user's language: a bad value names the option the user typed
and the form expected, never a field name of ours (`agreed_start`, `change.log-time.minutes`)."""

from decimal import Decimal
from pathlib import Path

import pytest

import starter
from cli.forms import validated
from client.failures import BAD_INPUT, Failure
from domain.renegotiation_models import RenegotiationRequest
from domain.service_desk import RecordChangeRequest

RENEGOTIATE = [
    "renegotiate",
    "--ticket",
    "1001",
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
]
DATE_WORDS = "use YYYY-MM-DD, e.g. 2026-12-31 (not '31.12.2026')"


def refusal(*argv: str) -> str:
    with pytest.raises(Failure) as failure:
        starter.parser().parse_args(list(argv))
    assert failure.value.code == BAD_INPUT
    return str(failure.value)


@pytest.mark.parametrize(
    "argv, option",
    [
        ([*RENEGOTIATE, "--start-date", "31.12.2026"], "--start-date"),
        (
            [
                "contract-terms",
                "client-onboarding-ACME",
                "--start",
                "31.12.2026",
                "--payment",
                "bank-transfer",
            ],
            "--start",
        ),
        (
            [
                "contract-terms",
                "client-onboarding-ACME",
                "--start",
                "2026-12-01",
                "--end",
                "31.12.2026",
                "--payment",
                "bank-transfer",
            ],
            "--end",
        ),
        (["log-time", "--ticket", "1", "--minutes", "5", "--date", "31.12.2026"], "--date"),
        (
            ["carrier-answer", "classound-order-DELTA-1", "--porting-date", "31.12.2026"],
            "--porting-date",
        ),
    ],
)
def test_a_date_in_another_form_names_the_option_and_the_form(argv, option):
    assert refusal(*argv) == f"{option}: {DATE_WORDS}"


def test_every_date_option_is_checked_as_a_date():
    """Every option that asks for YYYY-MM-DD, in every command, has the date type."""
    unchecked = []
    for name, command in starter.parser()._subparsers._group_actions[0].choices.items():
        for action in command._actions:
            if "YYYY-MM-DD" in f"{action.metavar} {action.help}" and action.type is None:
                unchecked.append(f"{name} {action.option_strings}")
    assert unchecked == []


def test_a_model_refusal_names_the_option_not_the_field():
    with pytest.raises(Failure) as failure:
        validated(
            RenegotiationRequest,
            ticket_id=1001,
            account_id="FJORDBYGG",
            contact_id="C-FJORD-1",
            original_contract_id="K-FJORD-2024",
            licences=18,
            price=Decimal("390"),
            agreed_start="31.12.2026",
            requested_by="staff",
        )
    assert str(failure.value) == f"--start-date: {DATE_WORDS}"
    assert "agreed_start" not in str(failure.value)


def test_a_nested_field_is_named_by_its_option():
    with pytest.raises(Failure) as failure:
        validated(
            RecordChangeRequest,
            actor="staff",
            change={
                "operation": "log-time",
                "ticket_id": 1,
                "minutes": 0,
                "work_date": "2026-12-02",
                "note": "",
            },
        )
    message = str(failure.value)
    assert message.startswith("--minutes: use 1 or more"), message
    assert "change." not in message and "log-time." not in message


USER_FACING = ["cli", "workflows", "domain", "activities", "store"]


def test_no_message_speaks_of_a_temporary_password():
    """There is none: the invitation carries a one-time link (docs/processes.md, "No
    temporary password")."""
    root = Path(__file__).resolve().parents[2]
    said = [
        f"{path.relative_to(root)}"
        for folder in USER_FACING
        for path in (root / folder).rglob("*.py")
        if "temporary password" in path.read_text().lower()
    ]
    assert said == []


def test_a_weak_password_is_refused_in_a_sentence(tmp_path, capsys):
    weak = tmp_path / "password"
    weak.write_text("C-NORD-1-abc\n")
    code = starter.main(
        [
            "partner-login",
            "--partner",
            "P-NORDTEL",
            "--user",
            "C-NORD-1",
            "--token",
            "t0k3n",
            "--password-file",
            str(weak),
        ]
    )
    assert code == BAD_INPUT
    assert capsys.readouterr().out.strip() == (
        "bad input: choose another password: it must not contain the user name C-NORD-1"
    )


def test_a_quote_rejected_for_one_field_says_fill_it_in():
    from domain.account import MandatoryFields, rejection_reason

    reason = rejection_reason(MandatoryFields(phone=False, email=True, invoice_email=True))
    assert "fill it in" in reason and "fill them in" not in reason


def test_what_a_process_waits_for_is_said_once():
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from cli.common import waiting_line

    since = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    line = waiting_line(SimpleNamespace(waiting_for="waiting for: LOA, last invoice", since=since))
    assert line == "  waiting for: LOA, last invoice (since 2026-12-02 10:00 UTC)"
    done = waiting_line(
        SimpleNamespace(waiting_for="nothing: order order-1 applied by C-NORD-1", since=since)
    )
    assert done == "  outcome:     order order-1 applied by C-NORD-1 (since 2026-12-02 10:00 UTC)"
