"""Change orders only on an active PBX (domain/change_order.py check_pbx_active)."""

import pytest

from domain.account import MandatoryFields
from domain.catalogue import LicenceType
from domain.change_order import PbxSnapshot, check_pbx_active
from domain.errors import Refused


def snapshot(active: bool) -> PbxSnapshot:
    return PbxSnapshot(
        account_id="ACC-1",
        pbx_id="PBX-42",
        partner_id="PARTNER-7",
        active=active,
        licences={LicenceType.PREMIUM: 3},
        catalogue={},
        mandatory=MandatoryFields(phone=True, email=True, invoice_email=True),
    )


def test_active_pbx_is_accepted():
    assert check_pbx_active(snapshot(active=True)) is None


def test_inactive_pbx_is_refused():
    with pytest.raises(Refused):
        check_pbx_active(snapshot(active=False))


def test_refusal_names_the_pbx():
    with pytest.raises(Refused, match="PBX PBX-42 is not active"):
        check_pbx_active(snapshot(active=False))


def test_refusal_says_to_book_a_new_project():
    with pytest.raises(Refused, match="book a new project instead"):
        check_pbx_active(snapshot(active=False))
