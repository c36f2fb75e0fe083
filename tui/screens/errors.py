"""Every error of a manifest (or of the project): files that could not be read and stages that
failed, with the asset and the message a person needs."""

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

    def __init__(self, where: str, errors: list[ErrorInfo], by_manifest: bool = False):
        super().__init__()
        self.where = where
        self.errors = errors
        self.by_manifest = by_manifest

    def compose(self) -> ComposeResult:
        with Vertical(id="errors"):
            count = f"{len(self.errors)} error{'' if len(self.errors) == 1 else 's'}"
            yield Label(
                plain(
                    f"{count} in {self.where}"
                    + (" · enter: go to the asset" if self.errors else "")
                ),
                id="errors-title",
            )
            yield DataTable(id="errors-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        columns = ["Stage", "Asset", "Message"]
        table.add_columns(*(["Manifest"] if self.by_manifest else []), *columns)
        for index, error in enumerate(self.errors):
            cells = [plain(error.stage), plain(error.asset_name), plain(error.message)]
            if self.by_manifest:
                cells.insert(0, plain(error.manifest))
            table.add_row(*cells, key=str(index))
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
