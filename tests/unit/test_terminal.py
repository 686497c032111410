"""Text from outside data cannot drive the terminal: every control character is written out
as an escape, the starter's own layout (newlines, tabs) and ordinary letters stay."""

import argparse
import io

import pytest

from cli.common import emit, output_to
from cli.terminal import harmless


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Evil\x1b[2J", "Evil\\x1b[2J"),  # clear screen
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),  # OSC: window title
        ("a\x9b31mb", "a\\x9b31mb"),  # the one-byte CSI of C1
        ("rechnung\u202efdp.exe", "rechnung\\u202efdp.exe"),  # right-to-left override
        ("x\u2066y\u2069\u200f", "x\\u2066y\\u2069\\u200f"),  # isolates, marks
        ("over\rwrite\x00\x7f", "over\\x0dwrite\\x00\\x7f"),
        ("Müller & Søn GmbH, 東京", "Müller & Søn GmbH, 東京"),
        ("two\n\tlines", "two\n\tlines"),
    ],
)
def test_control_characters_are_shown_not_acted_on(raw, shown):
    assert harmless(raw) == shown


def test_every_printed_text_goes_through_it_and_json_stays_json():
    out = io.StringIO()
    output_to(out)
    try:
        emit(argparse.Namespace(json=False), True, "company: Evil\x1b[2J")
        emit(argparse.Namespace(json=True), True, "company: Evil\x1b[2J")
    finally:
        output_to(None)
    text, as_json = out.getvalue().split("\n", 1)
    assert text == "company: Evil\\x1b[2J"
    assert '"company: Evil\\u001b[2J"' in as_json  # JSON's own escape: a script reads it back
