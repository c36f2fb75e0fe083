"""Every item that failed in a job: stage, asset and the message a person needs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from tui.plain import plain
from tui.snapshot import ErrorInfo


class ErrorsScreen(ModalScreen[int | None]):
    """Dismisses with the asset id under the cursor when enter is pressed (to jump to it)."""

    BINDINGS = [
        Binding("escape,q", "dismiss_none", "Close", id="errors.close"),
        Binding("enter", "jump", "Go to asset", id="errors.jump"),
    ]

    def __init__(self, run_label: str, errors: list[ErrorInfo]):
        super().__init__()
        self.run_label = run_label
        self.errors = errors

    def compose(self) -> ComposeResult:
        with Vertical(id="errors"):
            yield Label(plain(f"{len(self.errors)} errors in {self.run_label}"), id="errors-title")
            yield DataTable(id="errors-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Stage", "Asset", "Message")
        for index, error in enumerate(self.errors):
            table.add_row(plain(error.stage), plain(error.asset_name), plain(error.message),
                          key=str(index))
        table.focus()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def action_jump(self) -> None:
        table = self.query_one(DataTable)
        if not self.errors:
            self.dismiss(None)
            return
        self.dismiss(self.errors[table.cursor_row].asset_id)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_jump()
