"""Lines that fit their width by saying less, never by cutting a word: the first of several
wordings that fits is drawn (at 80 columns the short one, at 160 the long one)."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

from tui.widgets.quiet import text_key


class Fitted:
    """The first of ``choices`` that fits the width it is drawn in; when none does, the last,
    cut with an ellipsis."""

    def __init__(self, *choices: Text):
        self.choices = choices

    @property
    def key(self) -> tuple:
        return tuple(text_key(choice) for choice in self.choices)

    def pick(self, width: int) -> Text:
        for choice in self.choices:
            if choice.cell_len <= width:
                return choice
        last = self.choices[-1].copy()
        last.truncate(width, overflow="ellipsis")
        return last

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.pick(options.max_width)
        text.no_wrap = True
        yield text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(
            min(c.cell_len for c in self.choices), max(c.cell_len for c in self.choices)
        )
