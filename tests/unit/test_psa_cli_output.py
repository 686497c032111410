"""What staff read from starter.py: the campaign's progress (a bar on a terminal, plain
lines otherwise), the status of each PSA process, and input refused before sending."""

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from cli.psa import Progress, part_changes, show_campaign, show_invoicing, show_onboarding
from client.failures import BadInput
from domain.contracts import ContractPart, ContractTerms, PaymentMethod
from domain.invoicing import NumberingSettings
from domain.psa import (
    CampaignProgress,
    CampaignStage,
    CampaignStatus,
    InvoicingStage,
    InvoicingStatus,
    OnboardingStage,
    OnboardingStatus,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


class Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def campaign(handled: int, done: bool = False) -> CampaignStatus:
    return CampaignStatus(
        process_id="onboarding-campaign-all",
        stage=CampaignStage.DONE if done else CampaignStage.STARTING,
        waiting_for="",
        since=NOW,
        progress=CampaignProgress(
            total=5000, handled=handled, started=handled - 12, already_onboarding=12
        ),
    )


def test_a_terminal_gets_a_bar_redrawn_in_place():
    out = Stream(tty=True)
    progress = Progress(out)
    progress.show(campaign(312))
    progress.show(campaign(2500))
    progress.close()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "] 312/5000 (6%) started 300, already onboarding 12" in text
    assert "[###############...............] 2500/5000 (50%)" in text


class Clock:
    """A monotonic clock the test moves; it starts where a freshly booted machine's does."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def line(handled: int, total: int = 5000) -> str:
    return (
        f"onboarding-campaign-all: {handled} of {total} clients handled: {handled - 12} "
        "onboarding started, 12 already onboarding"
    )


@pytest.mark.parametrize("boot", [0.0, 3.0, 283.0, 1e6])  # seconds since boot
def test_a_pipe_gets_plain_lines_at_most_every_few_seconds_and_the_last_one(boot):
    out, clock = Stream(tty=False), Clock(boot)
    progress = Progress(out, every=5, clock=clock)
    progress.show(campaign(100))  # the first line at once, however young the machine
    for handled in (200, 300):
        clock.now += 2
        progress.show(campaign(handled))  # within 5 s of the last line: not printed
    clock.now += 1.5
    progress.show(campaign(350))  # 5.5 s after the first line
    clock.now += 0.1
    progress.show(campaign(400, done=True))  # the last one always
    assert out.getvalue().splitlines() == [line(100), line(350), line(400, 400)]


def test_status_of_an_onboarding_says_what_the_client_lacks():
    s = OnboardingStatus(
        process_id="client-onboarding-ACME",
        stage=OnboardingStage.AWAITING_PRICES,
        waiting_for="waiting for staff to confirm",
        since=NOW,
        account_id="ACME",
        partner_id="P-NORDTEL",
        billing_information=True,
        currency="EUR",
        terms=ContractTerms(
            start_date=date(2026, 12, 1), payment_method=PaymentMethod.BANK_TRANSFER
        ),
        contract_id="psa-contract-ACME-1a2b3c",
        monthly_total=Decimal("59.70"),
        parts=[
            ContractPart(
                sku="Premium",
                name="Premium",
                quantity=3,
                unit_price=Decimal("19.90"),
                list_price=Decimal("19.90"),
            ),
            ContractPart(sku="Business", name="Business", quantity=1),
        ],
        lacks=["prices for contract parts Business"],
    )
    text = show_onboarding(s.model_dump(mode="json"))
    assert "billing:     provided (EUR)" in text
    assert "terms:       from 2026-12-01 to open end, bank-transfer, billed monthly" in text
    assert "contract:    psa-contract-ACME-1a2b3c (draft), EUR 59.70 a month" in text
    assert "part:        Business x1 at NO PRICE" in text
    assert "lacks:       prices for contract parts Business" in text


def test_status_of_a_campaign_and_of_an_invoicing_run():
    assert "progress:    40 of 40 clients handled" in show_campaign(
        campaign(40, done=True).model_dump(mode="json")
    )
    run = InvoicingStatus(
        process_id="invoicing-run-P-NORDTEL-2026-11",
        stage=InvoicingStage.AWAITING_REVIEW,
        waiting_for="waiting for staff to review",
        since=NOW,
        partner_id="P-NORDTEL",
        period="2026-11",
        numbering=NumberingSettings(),
        next_invoice_number="INV-000001",
    )
    text = show_invoicing(run.model_dump(mode="json"))
    assert (
        "numbering:   prefix 'INV-', next 1, format {prefix}{number:06} (NOT REVIEWED); "
        "next invoice INV-000001"
    ) in text


class Args:
    def __init__(self, **options) -> None:
        self.price = self.quantity = self.add = self.remove = None
        self.__dict__.update(options)


def test_part_changes_from_the_command_line():
    changes = part_changes(
        Args(
            price=["Premium=18,50"],
            add=["Business=2@29.90"],
            remove=["Basic"],
            quantity=["Premium=4"],
        )
    )
    assert [(c.sku, c.add, c.quantity, c.unit_price, c.remove) for c in changes] == [
        ("Premium", None, 4, Decimal("18.50"), False),
        ("Business", 2, None, Decimal("29.90"), False),  # adds 2, replaces nothing
        ("Basic", None, None, None, True),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give at least one --price"),
        ({"price": ["Premium"]}, "--price 'Premium': give SKU=VALUE"),
        ({"price": ["Premium=cheap"]}, "'cheap' is not a price"),
        ({"add": ["Business=two"]}, "'two' is not a whole number"),
        (
            {"add": ["Business=2"], "quantity": ["Business=5"]},
            "Business: --quantity and --add together; --add adds units, --quantity and --price "
            "replace them",
        ),
        ({"price": ["Business=20"], "add": ["Business=2@29.90"]}, "--price and --add together"),
        ({"add": ["Business=2"], "remove": ["Business"]}, "--add and --remove together"),
        ({"add": ["Business=2", "Business=1"]}, "Business: --add given twice"),
        ({"price": ["Business=2", "Business=3"]}, "Business: --price given twice"),
    ],
)
def test_bad_part_changes_are_refused_before_sending(options, message):
    with pytest.raises(BadInput, match=message):
        part_changes(Args(**options))
