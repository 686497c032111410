"""A file of leads is accepted or refused whole by the starter, before anything is
written or sent; duplicates inside a file are named; steps on leads are checked before they
become a process."""

import argparse
import io

import pytest
from pydantic import ValidationError

import cli.lead_imports
import cli.leads
from cli.lead_imports import ImportProgress, check_lead_file, same_person_twice
from cli.leads import cmd_add_leads
from client.failures import BadInput
from domain.leads import MAX_LEADS_PER_FILE, LeadRow, LeadStepRequest


def csv_of(n: int) -> str:
    return "company,email\n" + "".join(f"Acme {i},buyer{i}@acme.example\n" for i in range(n))


@pytest.fixture
def nothing_sent(monkeypatch, tmp_path):
    """Any attempt to reach Temporal fails the test; the documents folder must stay empty."""
    documents = tmp_path / "documents"
    monkeypatch.setenv("PARTNERFLOW_DOCUMENTS_DIR", str(documents))

    async def no(*args, **kwargs):
        raise AssertionError("the starter reached Temporal")

    monkeypatch.setattr(cli.leads, "running_handle", no)
    monkeypatch.setattr(cli.leads, "temporal", no)
    monkeypatch.setattr(cli.lead_imports, "temporal", no)
    return documents


def args_for(path) -> argparse.Namespace:
    return argparse.Namespace(
        file=str(path), queue="fair", actor="staff", json=False, request_id=None
    )


async def test_a_file_over_100000_leads_is_refused_whole_and_nothing_is_sent(
    tmp_path, nothing_sent
):
    path = tmp_path / "leads.csv"
    path.write_text(csv_of(MAX_LEADS_PER_FILE + 1))
    with pytest.raises(BadInput) as refused:
        await cmd_add_leads(args_for(path))
    assert str(refused.value) == (
        f"leads.csv has {MAX_LEADS_PER_FILE + 1} leads: a file may "
        f"have at most {MAX_LEADS_PER_FILE}; split it. Nothing was "
        "sent"
    )
    assert not nothing_sent.exists() or not any(nothing_sent.rglob("*"))


async def test_a_file_over_64_mib_is_refused_before_it_is_read(tmp_path, nothing_sent):
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:  # sparse: no need to write 65 MiB
        f.truncate(65 * 1024 * 1024)
    with pytest.raises(BadInput) as refused:
        await cmd_add_leads(args_for(path))
    assert str(refused.value).startswith(
        "huge.csv is 65 MiB: a file of leads may have at most 64 MiB and 100000 leads; split it."
    )
    assert not nothing_sent.exists() or not any(nothing_sent.rglob("*"))


async def test_one_bad_row_refuses_the_whole_file(tmp_path, nothing_sent):
    path = tmp_path / "leads.csv"
    path.write_text(csv_of(500) + "Broken,not-an-address\n")
    with pytest.raises(BadInput) as refused:
        await cmd_add_leads(args_for(path))
    assert "row 501 email: not an e-mail address" in str(refused.value)
    assert str(refused.value).endswith("Nothing was sent")


def test_a_file_of_exactly_100000_leads_is_accepted(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(csv_of(MAX_LEADS_PER_FILE))
    assert len(check_lead_file(path)) == MAX_LEADS_PER_FILE


def test_the_same_person_twice_in_a_file_is_named():
    rows = [
        LeadRow(company="A", email="x@a.example"),
        LeadRow(company="B", phone="+49 1"),
        LeadRow(company="A again", email="X@a.example"),
        LeadRow(company="B", phone="49-1"),
    ]
    assert same_person_twice(rows) == [
        "row 3 is the same person as row 1",
        "row 4 is the same person as row 2",
    ]


def test_the_progress_is_a_line_every_few_seconds_when_not_on_a_terminal():
    out = io.StringIO()
    now = [1000.0]
    bar = ImportProgress(15_000, stream=out, every=5.0, clock=lambda: now[0])
    bar.show(5000, 1, 3, 5000, 0)
    now[0] += 1
    bar.show(10_000, 2, 3, 9990, 10)  # too soon: not printed
    now[0] += 1
    bar.show(15_000, 3, 3, 14_990, 10)  # the last one always is
    assert out.getvalue().splitlines() == [
        "5000/15000 leads, batch 1/3: 5000 new, 0 duplicate(s)",
        "15000/15000 leads, batch 3/3: 14990 new, 10 duplicate(s)",
    ]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"kind": "not-interested", "lead_id": "L-1"}, "say why the lead is not of interest"),
        ({"kind": "not-interested", "lead_id": "L-1", "reason": "  "}, "at least 3"),
        ({"kind": "claim"}, "claim names a lead"),
        ({"kind": "assign", "lead_id": "L-1"}, "assign names the new owner"),
        ({"kind": "reassign", "to_user": "C-1"}, "name the leads to reassign"),
        ({"kind": "update-opportunity", "opportunity_id": "OPP-L-1"}, "at least one of"),
    ],
)
def test_a_step_on_leads_is_checked_before_it_becomes_a_process(fields, problem):
    with pytest.raises(ValidationError) as err:
        LeadStepRequest(queue_id="fair", actor="C-1", **fields)
    assert problem in str(err.value)
