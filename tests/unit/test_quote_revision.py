"""A revised quote is a duplicate of the original with changes: every line is kept unless
changed or removed, and the differences are listed."""

import pytest

from domain.catalogue import LicenceType
from domain.errors import Refused
from domain.order_lines import QuoteLine, revise_lines

PREMIUM = LicenceType.PREMIUM
ORIGINAL = [
    QuoteLine(sku="Premium", quantity=2),
    QuoteLine(sku="WP480G", quantity=3),
    QuoteLine(sku="CLASSOUND-FLAT", quantity=2, licence=PREMIUM),
]


def test_changing_one_line_keeps_every_other_line():
    lines, differences = revise_lines(ORIGINAL, [QuoteLine(sku="Premium", quantity=5)], [])
    assert lines == [QuoteLine(sku="Premium", quantity=5), *ORIGINAL[1:]]
    assert differences == ["Premium +2 → +5"]


def test_a_new_sku_is_added_at_the_end():
    lines, differences = revise_lines(ORIGINAL, [QuoteLine(sku="SVC-INSTALL", quantity=1)], [])
    assert lines == [*ORIGINAL, QuoteLine(sku="SVC-INSTALL", quantity=1)]
    assert differences == ["added SVC-INSTALL +1"]


def test_remove_drops_a_line_by_sku_or_by_flat_and_licence():
    lines, differences = revise_lines(ORIGINAL, [], ["WP480G", "classound-flat:premium"])
    assert lines == [ORIGINAL[0]]
    assert differences == ["removed WP480G +3", "removed CLASSOUND-FLAT:Premium +2"]


def test_a_flat_on_another_licence_is_another_line():
    business = QuoteLine(sku="CLASSOUND-FLAT", quantity=1, licence=LicenceType.BUSINESS)
    lines, differences = revise_lines(ORIGINAL, [business], [])
    assert lines == [*ORIGINAL, business]
    assert differences == ["added CLASSOUND-FLAT:Business +1"]


@pytest.mark.parametrize(
    "changes, remove, words",
    [
        ([], ["SVC-TRAINING"], "cannot remove SVC-TRAINING: the quote has no such line"),
        ([QuoteLine(sku="Premium", quantity=5)], ["Premium"], "both removed and changed"),
        (
            [QuoteLine(sku="Premium", quantity=5), QuoteLine(sku="Premium", quantity=6)],
            [],
            "changed twice",
        ),
        ([QuoteLine(sku="Premium", quantity=2)], [], "the same as the original"),
        ([], ["Premium", "WP480G", "CLASSOUND-FLAT"], "no lines left"),
    ],
)
def test_what_cannot_be_a_revision_is_refused(changes, remove, words):
    with pytest.raises(Refused, match=words):
        revise_lines(ORIGINAL, changes, remove)


def test_a_bare_flat_sku_is_refused_when_it_names_several_lines():
    lines = [*ORIGINAL, QuoteLine(sku="CLASSOUND-FLAT", quantity=1, licence=LicenceType.BASIC)]
    with pytest.raises(Refused, match="say which: CLASSOUND-FLAT:Premium or CLASSOUND-FLAT:Basic"):
        revise_lines(lines, [], ["CLASSOUND-FLAT"])
