"""A contact sheet page, full screen; n / p page through."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from tui.graphics import image_widget_class
from tui.plain import plain


class ContactSheetScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close", id="sheet.close"),
        Binding("n,right", "page(1)", "Next page", id="sheet.next"),
        Binding("p,left", "page(-1)", "Previous page", id="sheet.previous"),
    ]

    def __init__(self, pages: list, names: list[str]):
        super().__init__()
        self.pages = pages  # PIL images, already downscaled
        self.names = names
        self.index = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="sheet"):
            yield Label(self._title(), id="sheet-title")
            yield image_widget_class()(self.pages[0] if self.pages else None, id="sheet-image")

    def _title(self):
        if not self.pages:
            return plain("No contact sheet yet")
        return plain(f"Contact sheet {self.index + 1}/{len(self.pages)}  {self.names[self.index]}")

    def action_page(self, step: int) -> None:
        if not self.pages:
            return
        self.index = (self.index + step) % len(self.pages)
        self.query_one("#sheet-image").image = self.pages[self.index]
        self.query_one("#sheet-title", Label).update(self._title())
