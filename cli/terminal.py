"""Text from outside data (company and contact names, file names, reasons partners type) on a
terminal: control characters are shown as escapes, never acted on. A name holding `ESC[2J`
would clear the screen, an OSC sequence retitle the window, a right-to-left override turn
"rechnung\u202efdp.exe" into "rechnungexe.pdf". Everything the starter prints as text goes
through `harmless`; --json output is JSON, which escapes them itself."""

import re

# C0 controls except tab and newline (the starter's own layout), DEL, the C1 controls (CSI
# and OSC have one-byte forms there), and the bidirectional controls.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def harmless(text: str) -> str:
    """`text` with every control character written out as an escape (`\\x1b`, `\\u202e`):
    what it says stays readable, nothing in it can move the cursor, clear the screen, set the
    window title or reorder what follows."""
    return _UNSAFE.sub(_escape, text)
