"""The README as a newcomer follows it: every `starter.py` command of the quick
start and of the process catalogue's tables, taken from README.md itself, run in the order
written against a fresh database with the demo data, a worker and a namespace of the Temporal
dev server of its own, each exit code checked.

What the test changes in a command, and nothing else:
- `[...]` is optional: dropped.
- Placeholders are filled from what earlier commands printed, as a person copies them:
  `ID` is the newest process id printed that has the form of the section's heading
  (`fast-change-order-<account>-<ref>`), `...-<ref>` the newest printed id of that form,
  `TICKET` / `ENTRY` / `ITEM` the newest record number of that kind, `<link from the e-mail>`
  the login link in the outbox (`python -m store outbox`, run as written).
- Dates are shifted by (today - the README's day), so that "tomorrow" in the README stays
  tomorrow on any day the test runs.
- `$S` is this interpreter and starter.py; the new password of `partner-login` comes on a pipe.
  Each command is a process of its own, forked from an interpreter started with the same
  environment that has imported starter.py's modules (tests/e2e/forked.py): the command as
  written, without 0.7 s of Python start-up and imports each.

Commands that the README itself says are refused (a `# rejected` comment, or a rule of its
"Process rules") are listed in REFUSED_AS_WRITTEN with the words the refusal must carry.
"""

import asyncio
import json
import re
import shlex
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest

from codec import parse_key_ring
from domain.business_time import business_today
from store.outbox import pending_link
from tests.conftest import own_namespace
from tests.e2e.cli import ROOT, environment, worker
from tests.e2e.forked import spawn

pytestmark = pytest.mark.e2e

README = ROOT / "README.md"
# The day the README's examples are written for: their dates are this far from "today".
README_DAY = date(2026, 12, 2)
PASSWORD = "Fjord-Lynx-2026!"

# (section heading starts with, subcommand) -> (exit code, words of the refusal). Each is a
# rule the README states: a user following it top to bottom gets exactly this answer.
REFUSED_AS_WRITTEN: dict[tuple[str, str], tuple[int, str]] = {
    # A confirmed order is applied and its process has ended: nothing can be sent to it.
    ("Fast change order", "cancel"): (3, "has ended (applied)"),
    ("Change order", "cancel"): (3, "has ended (applied)"),
    # The deadline rows follow the signature in the table: the process has ended.
    ("Renegotiation", "extend-signing-deadline"): (3, "has ended (signed)"),
    ("Renegotiation", "cancel-renegotiation"): (3, "has ended (signed)"),
    # No relay runs here (no SMTP server configured): the newest message is still queued.
    ("Messages", "resend"): (1, "is queued already"),
}


# (section heading starts with, subcommand) -> words its answer must carry: what the README
# promises of a view.
SHOWS: dict[tuple[str, str], list[str]] = {
    ("Lead queue", "status"): [
        "Hafenlogistik GmbH, DE 20457, Premium, ",
        "Isar Dental, DE 80331, Premium",
    ],
    ("Partner accounts", "contacts"): ["C-NORD-1", "partner user: active", "C-NORD-2"],
    ("PSA", "invoice"): ["invoice INV-000001", "client:      ACME Acme Logistik GmbH"],
}


@dataclass
class Command:
    section: str
    written: str  # as in the README
    expect: int | None = None  # from a `# rejected` comment
    block: bool = False  # from a shell block (the quick start)


@dataclass
class Seen:
    process_ids: list[str] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)


def readme_commands(text: str) -> list[Command]:
    """Every starter command of the quick start's shell blocks and of the catalogue's tables,
    in the README's order."""
    commands: list[Command] = []
    section, in_block, in_catalogue, in_process = "", False, False, False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            stripped = line.strip()
            if stripped.startswith("$S "):
                command, _, comment = stripped.partition("  #")
                expect = 1 if re.search(r"\b(rejected|refused)\b", comment) else 0
                commands.append(
                    Command(section, "starter.py " + command[3:].strip(), expect, block=True)
                )
            elif stripped.startswith("python -m store "):
                commands.append(
                    Command(section, stripped.partition("  #")[0].strip(), 0, block=True)
                )
            continue
        if line.startswith("## "):
            in_catalogue = line.startswith("## Process catalogue")
        if line.startswith(("## ", "### ")):
            section = line.lstrip("# ").strip()
            in_process = line.startswith("### ")  # not the tables of exit codes and forms
            continue
        if in_catalogue and in_process and line.startswith("|"):
            for span in re.findall(r"`([^`]+)`", line):
                span = span.replace("\\|", "|")
                if span.startswith(("starter.py ", "python -m store ")):
                    commands.append(Command(section, span))
    return commands


def id_pattern(template: str) -> re.Pattern:
    parts = re.split(r"<[^>]+>", template)
    return re.compile("^" + r"[A-Za-z0-9._-]+".join(map(re.escape, parts)) + "$")


def section_forms(section: str) -> list[re.Pattern]:
    """The process ids a catalogue heading names: `fast-change-order-<account>-<ref>`."""
    return [id_pattern(t) for t in re.findall(r"`([a-z-]+(?:-<[a-z]+>)+)`", section)]


def shifted(token: str, days: int) -> str:
    def shift(m: re.Match) -> str:
        return (date.fromisoformat(m.group(0)) + timedelta(days=days)).isoformat()

    return re.sub(r"\b\d{4}-\d{2}-\d{2}\b", shift, token)


def argv_of(command: Command, seen: Seen, links: list[str], days: int) -> list[str]:
    written = re.sub(r"\s*\[[^\[\]]*\]", "", command.written)
    assert "…" not in written and "..." not in written.replace('"..."', ""), (
        f"not runnable as written ({command.section}): {command.written}"
    )
    argv = []
    for token in shlex.split(written):
        if token == "ID":
            forms = section_forms(command.section)
            token = next(
                (p for p in reversed(seen.process_ids) if any(f.match(p) for f in forms)), None
            )
            assert token, f"no process id printed yet for ID in: {command.written}"
        elif "<ref>" in token:
            form = id_pattern(token)
            token = next((p for p in reversed(seen.process_ids) if form.match(p)), None)
            assert token, f"no process id printed yet for: {command.written}"
        elif token in ("TICKET", "ENTRY", "ITEM", "MESSAGE"):
            assert token in seen.records, f"no {token.lower()} number printed yet: {written}"
            token = str(seen.records[token])
        elif token == "<link from the e-mail>":
            user = written.split("--user ", 1)[1].split()[0]
            token = next(
                (u for u in reversed(links) if parse_qs(urlsplit(u).query).get("user") == [user]),
                None,
            )
            assert token, f"no login link for {user} in the outbox yet: {written}"
        argv.append(shifted(token, days))
    return argv


RECORDS = {"create-ticket": "TICKET", "log-time": "ENTRY", "create-sales-item": "ITEM"}


def remember(seen: Seen, subcommand: str, body: dict) -> None:
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    pid = data.get("process_id")
    if pid:
        seen.process_ids.append(pid)
    if subcommand == "outbox" and isinstance(body.get("data"), list) and body["data"]:
        seen.records["MESSAGE"] = body["data"][0]["id"]  # the newest message
    if subcommand in RECORDS and isinstance(data.get("record_id"), int):
        seen.records[RECORDS[subcommand]] = data["record_id"]


async def run(env: dict[str, str], argv: list[str]) -> tuple[int, str, str]:
    """The command as a process of its own, forked from an interpreter started with the same
    environment that has imported starter.py's modules (tests/e2e/forked.py): as
    `python starter.py ...` / `python -m store ...`, without 0.7 s of start-up each."""
    if argv[0] == "starter.py":
        argv = [str(ROOT / "starter.py"), *argv[1:], "--json"]
    else:  # python -m store ...
        argv = argv[1:]
    proc = await spawn(
        env,
        argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(f"{PASSWORD}\n".encode()), 120)
    return proc.returncode, out.decode(), err.decode()


def test_the_readme_names_runnable_commands():
    """The extraction itself: the quick start and every catalogue table are found."""
    commands = readme_commands(README.read_text())
    sections = {c.section for c in commands}
    assert sum(c.block for c in commands) >= 10
    for heading in (
        "Fast change order",
        "Change order (quote based)",
        "CLASSOUND order",
        "Renegotiation",
        "Partner accounts",
        "Lead queue",
        "PSA",
    ):
        assert any(s.startswith(heading) for s in sections), heading


async def newest_login_link(dsn: str, user: str, env: dict[str, str]) -> str:
    """Sealed in the outbox with the worker's key ring until a relay sends it (none runs
    here): read through the one function for that, with the worker's ring."""
    conn = await asyncpg.connect(dsn)
    try:
        return await pending_link(
            conn,
            recipient_id=user,
            template="partner_user_login",
            ring=parse_key_ring(env["PARTNERFLOW_ENCRYPTION_KEYS"]),
        )
    finally:
        await conn.close()


async def test_every_readme_command_works_as_written(dev_env, demo_db, tmp_path):
    address = dev_env.client.service_client.config.target_host
    env = environment(address, demo_db, f"readme-{uuid.uuid4().hex[:8]}")
    # a namespace of its own: the README's process ids (the same request on the same day is
    # the same process) must not meet those of other tests
    env["TEMPORAL_NAMESPACE"] = await own_namespace(dev_env, "readme")
    env["PARTNERFLOW_ACTOR"] = "ops-anna"  # the identity the README gives the walk-through
    today = business_today(datetime.now(UTC), "change-orders")
    days = (today - README_DAY).days
    commands = readme_commands(README.read_text())
    seen, links, log = Seen(), [], []
    async with worker(env):
        for command in commands:
            argv = argv_of(command, seen, links, days)
            code, out, err = await run(env, argv)
            log.append(f"$ {shlex.join(argv)}  -> {code}\n{out}{err}")
            sub = argv[1]
            expected = next(
                (
                    v
                    for (s, c), v in REFUSED_AS_WRITTEN.items()
                    if command.section.startswith(s) and c == sub
                ),
                None,
            )
            want = expected[0] if expected else (command.expect or 0)
            assert code == want, (
                f"{command.section}: `{command.written}` exited {code}, "
                f"expected {want}\n\n" + "\n".join(log[-3:])
            )
            assert "Traceback" not in err, "\n".join(log[-3:])
            if expected:
                assert expected[1] in out, "\n".join(log[-2:])
            for words in next(
                (v for (s, c), v in SHOWS.items() if command.section.startswith(s) and c == sub), []
            ):
                assert words in json.loads(out)["message"], "\n".join(log[-1:])
            if argv[0] == "starter.py":
                remember(seen, sub, json.loads(out))
            if sub == "invite-partner-user":
                # what the login e-mail will say: the link waits in its outbox row until the
                # relay sends it (no relay runs here; under ./run it is on the Messages page)
                links.append(
                    await newest_login_link(demo_db, argv[argv.index("--contact") + 1], env)
                )
