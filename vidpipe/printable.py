"""Text from a project (file and folder names, asset names, prompts, error messages) made safe to
show on a terminal.

A project folder comes from someone else, so such text is data, never commands: a control
character in a file name reaches the terminal as an escape sequence (retitle the window, clear
the screen, in some terminals write the clipboard), and bidi overrides make a name read as
something else. Every such character is shown as a visible escape instead (``\\x1b``), so the
name stays recognisable. Markup is the front ends' concern: they pass this text as plain text.
"""

from __future__ import annotations

import logging
import re

# C0 and C1 controls, DEL, bidi embeddings/overrides/isolates, line/paragraph separators, and
# lone surrogates (what Python makes of the bytes of a file name that is not UTF-8).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
    "\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_UNSAFE_ONE_LINE = re.compile(f"[\n\t]|{_UNSAFE.pattern}")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the original byte of the file name
        return f"\\x{code - 0xDC00:02x}"
    if code == 0x0A:
        return "\\n"
    if code == 0x09:
        return "\\t"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(value: object, one_line: bool = False) -> str:
    """``value`` as text a terminal shows as it is; newlines and tabs kept unless ``one_line``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return (_UNSAFE_ONE_LINE if one_line else _UNSAFE).sub(_visible, text)


def has_control_characters(text: str, allow_newlines: bool = True) -> bool:
    return bool((_UNSAFE if allow_newlines else _UNSAFE_ONE_LINE).search(text))


class PrintableFormatter(logging.Formatter):
    """Log lines end up on terminals too (``tail -f``): names in them are shown, not obeyed."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def quoted(value: object) -> str:
    """``value`` on one line between quotes, for messages (``repr`` would double the escapes)."""
    return f"'{printable(value, one_line=True)}'"
