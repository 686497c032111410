"""Record numbers (tickets, time entries, sales items) are PostgreSQL bigints: every record
command takes each number up to 9223372036854775807, as the input forms say, and sends it
(here the records do not exist: the process refuses, exit 1); one more is bad input (exit 2,
naming the form), and nothing is sent."""

import pytest

from domain.ids import BIGINT_MAX
from tests.e2e.cli import starter, worker

pytestmark = pytest.mark.e2e

COMMANDS = {
    "close-ticket": ["close-ticket", "{n}"],
    "answer-ticket": ["answer-ticket", "{n}", "--text", "hello"],
    "log-time": ["log-time", "--ticket", "{n}", "--minutes", "5"],
    "approve-time": ["approve-time", "{n}"],
    "move-sales-item": ["move-sales-item", "{n}", "--to", "ACME"],
}


def argv(command: str, n: int) -> list[str]:
    return [a.format(n=n) for a in COMMANDS[command]]


async def test_the_largest_record_number_is_sent_and_one_more_is_bad_input(cli_env):
    async with worker(cli_env):
        largest = {c: await starter(cli_env, *argv(c, BIGINT_MAX)) for c in COMMANDS}
    too_large = {c: await starter(cli_env, *argv(c, BIGINT_MAX + 1)) for c in COMMANDS}
    assert {c: a.code for c, a in largest.items()} == dict.fromkeys(COMMANDS, 1), {
        c: a.text for c, a in largest.items()
    }
    for answer in largest.values():
        assert str(BIGINT_MAX) in answer.body["message"], answer.text
        assert "4611686018427387904" not in answer.text
    assert {c: a.code for c, a in too_large.items()} == dict.fromkeys(COMMANDS, 2)
    for answer in too_large.values():
        assert f"whole number from 1 to {BIGINT_MAX}" in answer.body["message"], answer.text
