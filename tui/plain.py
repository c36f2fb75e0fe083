"""Project text on screen: always plain text, never markup, never raw control characters.

Names, file paths, prompts and error messages come from a project folder someone else made.
Textual reads a ``str`` given to a Label, a Static, a DataTable cell or a notification as markup
(``[@click=app.quit]x`` would become a link that quits), and passes control characters to the
terminal as they are (an escape sequence in a file name would retitle or clear the terminal).
So every such text reaches a widget as a ``rich.text.Text`` built here.
"""

from __future__ import annotations

from rich.text import Text

from vidpipe.printable import printable


def plain(value: object, style: str = "", one_line: bool = True) -> Text:
    """``value`` as literal text for a widget (one line unless ``one_line`` is False)."""
    return Text(printable(value, one_line=one_line), style=style)


def safe(value: object, one_line: bool = True) -> str:
    """``value`` with control characters made visible, for text that is then wrapped in ``plain``
    or passed to an API that takes no markup."""
    return printable(value, one_line=one_line)


class PlainCell:
    """A grid cell of project text, made into safe Text only when drawn: a 5 000-row grid draws
    a screenful, so the other rows never pay for it. A ``str`` cell would be read as markup."""

    __slots__ = ("value",)

    def __init__(self, value: object):
        self.value = value

    def __rich__(self) -> Text:
        text = plain(self.value)
        text.no_wrap, text.overflow = True, "ellipsis"  # a cut cell ends in "…", never wraps
        return text

    def __str__(self) -> str:
        return safe(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlainCell) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)
