"""The asset grid: one DataTable row per asset, rows added in bulk, cells updated in place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from tui.rows import STATE_UNTRACKED, AssetRow

PROMPT_EXCERPT = 44


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    render: Callable[[AssetRow], object]
    sort: Callable[[AssetRow], object]
    width: int


def _conf(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _state(row: AssetRow) -> Text:
    if row.state == STATE_UNTRACKED:
        return Text("not ingested", style="italic yellow")
    if row.has_error:
        stages = ",".join(sorted(row.stage_errors)) if row.stage_errors else ""
        return Text(f"error {stages}".strip(), style="bold red")
    if row.state == "processed":
        return Text("processed", style="green")
    return Text(row.state, style="yellow")


def _edited(row: AssetRow) -> Text:
    marks = ("✎" if row.edited else "") + ("★" if row.has_suggestion else "")
    return Text(marks, style="magenta")


def _excerpt(row: AssetRow) -> str:
    text = " ".join(row.reverse_prompt.split())
    return text if len(text) <= PROMPT_EXCERPT else text[:PROMPT_EXCERPT - 1] + "…"


def _source(row: AssetRow) -> str:
    return f"← {row.parent}" if row.parent else row.source


def _face(row: AssetRow) -> str:
    if row.duplicate_of:
        return f"dup of {row.duplicate_of}"
    return "" if row.face_group is None else f"group {row.face_group}"


COLUMNS = [
    Column("tag", "Tag", lambda r: r.tag, lambda r: (r.tag == "", r.tag), 11),
    Column("name", "Name", lambda r: r.name, lambda r: r.name.lower(), 20),
    Column("type", "Type", lambda r: r.asset_type.title(), lambda r: r.asset_type, 11),
    Column("edited", "Ed", _edited, lambda r: (not r.edited, not r.has_suggestion), 2),
    Column("reviewed", "Rv", lambda r: "✓" if r.reviewed else "", lambda r: r.reviewed, 2),
    Column("state", "State", _state, lambda r: (not r.has_error, r.state), 14),
    Column("prompt", "Prompt", _excerpt, lambda r: r.reverse_prompt.lower(), 44),
    Column("source", "Source", _source, lambda r: (r.source, r.parent), 14),
    Column("class", "Class", lambda r: r.detection_class, lambda r: r.detection_class, 10),
    Column("conf", "Conf", lambda r: _conf(r.detection_confidence),
           lambda r: -(r.detection_confidence or 0.0), 5),
    Column("face", "Face", _face, lambda r: (r.face_group is None, r.face_group or 0), 14),
    Column("quality", "Qual", lambda r: _conf(r.quality), lambda r: -(r.quality or 0.0), 5),
]
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
SORT_KEYS = ["sort_order"] + [column.key for column in COLUMNS]


def sort_rows(rows: list[AssetRow], key: str, reverse: bool = False) -> list[AssetRow]:
    if key == "sort_order":
        ordered = sorted(rows, key=lambda r: (r.sort_order, r.file_path))
    else:
        ordered = sorted(rows, key=COLUMN_BY_KEY[key].sort)
    return list(reversed(ordered)) if reverse else ordered


class AssetTable(DataTable):
    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", id="grid.mark", show=False,
                tooltip="Mark the asset for a bulk action (reprocess, merge faces)"),
    ]

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.marked: set[str] = set()

    def on_mount(self) -> None:
        self.add_column("", key="mark", width=1)
        for column in COLUMNS:
            self.add_column(column.label, key=column.key, width=column.width)

    def _update_dimensions(self, new_rows) -> None:
        # Every column has a fixed width, so measuring each new cell (DataTable's default, a
        # few seconds for 5 000 rows) cannot change anything: only the virtual size is needed.
        if any(column.auto_width for column in self.columns.values()):
            super()._update_dimensions(new_rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width,
                                 self._total_row_height + header)

    def _cells(self, row: AssetRow) -> list:
        return ["●" if row.key in self.marked else ""] + [c.render(row) for c in COLUMNS]

    def show(self, rows: list[AssetRow]) -> None:
        """Replace every row (keeps the cursor on the same asset when it is still shown)."""
        current = self.current_key
        self.clear()
        self.add_rows_keyed(rows)
        if current is not None:
            self.move_to(current)

    def add_rows_keyed(self, rows: list[AssetRow]) -> None:
        for row in rows:
            self.add_row(*self._cells(row), key=row.key)

    def update_row(self, row: AssetRow) -> bool:
        """Refresh one row's cells in place; False when the row is not shown."""
        if row.key not in self.rows:
            return False
        for column, value in zip(["mark"] + [c.key for c in COLUMNS], self._cells(row)):
            self.update_cell(row.key, column, value)
        return True

    def drop_row(self, key: str) -> None:
        try:
            self.remove_row(key)
        except RowDoesNotExist:
            pass

    @property
    def current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except RowDoesNotExist:
            return None

    def move_to(self, key: str) -> bool:
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return False
        self.move_cursor(row=index, scroll=True)
        return True

    def keys_in_order(self) -> list[str]:
        return [row.key.value for row in self.ordered_rows]

    def action_toggle_mark(self) -> None:
        key = self.current_key
        if key is None:
            return
        if key in self.marked:
            self.marked.discard(key)
            self.update_cell(key, "mark", "")
        else:
            self.marked.add(key)
            self.update_cell(key, "mark", "●")
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)
