"""The asset grid: one DataTable row per asset, rows added in bulk, cells updated in place.

A full rebuild (another manifest, a filter, a sort) shows the first chunk of rows at once and
appends the rest in chunks from an async worker, yielding to the event loop between chunks, so
keys and repaints are never held up by a 5 000-row rebuild. Rows waiting for their chunk count
as shown for every method here (``has_row``, ``update_row``, ``drop_row``, ``move_to``...).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Callable

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, Row, RowDoesNotExist, RowKey

from tui.plain import PlainCell, plain
from tui.rows import STATE_UNTRACKED
from tui.widgets.quiet import text_key

if TYPE_CHECKING:
    from tui.rows import AssetRow

#: Characters of the prompt a cell holds; the column shows what its width allows.
PROMPT_EXCERPT = 240
#: Below this many columns the fixed columns narrow (80×24 still shows ~20 of the prompt).
NARROW_GRID = 110
NARROW_WIDTHS = {"tag": 8, "name": 12, "type": 9, "state": 10}
PROMPT_MIN = 16
CHUNK = 500  # rows appended per step of a rebuild (~15 ms each here)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    render: Callable[[AssetRow], object]
    sort: Callable[[AssetRow], object]
    width: int


def _same(shown, value) -> bool:
    if isinstance(shown, Text) and isinstance(value, Text):
        return text_key(shown) == text_key(value)
    return type(shown) is type(value) and shown == value


def _conf(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _state(row: AssetRow) -> Text:
    if row.state == STATE_UNTRACKED:
        return Text("not ingested", style="italic yellow")
    if row.has_error:
        stages = ",".join(sorted(row.stage_errors)) if row.stage_errors else ""
        return plain(f"error {stages}".strip(), style="bold red")
    if row.state == "processed":
        return Text("processed", style="green")
    return plain(row.state, style="yellow")


def _edited(row: AssetRow) -> Text:
    marks = ("✎" if row.edited else "") + ("★" if row.has_suggestion else "")
    return Text(marks, style="magenta")


def _excerpt(row: AssetRow) -> str:
    text = " ".join(row.reverse_prompt[: PROMPT_EXCERPT * 4].split())
    return text if len(text) <= PROMPT_EXCERPT else text[: PROMPT_EXCERPT - 1] + "…"


def _source(row: AssetRow) -> str:
    return f"← {row.parent}" if row.parent else row.source


def _face(row: AssetRow) -> str:
    """The character's handle (a face, its closeup or full-body image), or the duplicate mark."""
    if row.duplicate_of:
        return f"dup of {row.duplicate_of}"
    if row.character:
        return row.character
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
    Column(
        "conf",
        "Conf",
        lambda r: _conf(r.detection_confidence),
        lambda r: -(r.detection_confidence or 0.0),
        5,
    ),
    Column(
        "face",
        "Face",
        _face,
        lambda r: (not r.character and r.face_group is None, r.character, r.face_group or 0),
        14,
    ),
    Column("quality", "Qual", lambda r: _conf(r.quality), lambda r: -(r.quality or 0.0), 5),
]
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
SORT_KEYS = ["sort_order"] + [column.key for column in COLUMNS]


def sort_rows(rows: list[AssetRow], key: str, reverse: bool = False) -> list[AssetRow]:
    if key == "sort_order":
        ordered = sorted(
            rows,
            key=lambda r: r.manifest_order or (r.sort_order, r.file_path, False, 0.0, r.file_path),
        )
    else:
        ordered = sorted(rows, key=COLUMN_BY_KEY[key].sort)
    return list(reversed(ordered)) if reverse else ordered


class AssetTable(DataTable):
    BINDINGS = [
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            id="grid.mark",
            show=False,
            tooltip="Mark the asset for a bulk action (reprocess, merge faces)",
        ),
    ]

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.marked: set[str] = set()
        self._pending: dict[str, AssetRow] = {}  # rows of a rebuild not appended yet, in order
        self._generation = 0  # bumped by each rebuild: a stale fill stops
        self._cursor_wanted: str | None = None  # pending row the cursor goes to once appended
        # ``_append`` writes DataTable's row bookkeeping directly; with another layout of those
        # internals (a Textual upgrade) it falls back to add_row: slower, still correct.
        self._fast_append = all(
            hasattr(self, name)
            for name in (
                "_row_locations",
                "_data",
                "_new_rows",
                "_offset_cache",
                "_highlight_cursor",
                "_require_update_dimensions",
            )
        ) and {"key", "height", "label", "auto_height"} <= set(
            getattr(Row, "__dataclass_fields__", {})
        )

    def on_mount(self) -> None:
        self.add_column("", key="mark", width=1)
        for column in COLUMNS:
            self.add_column(column.label, key=column.key, width=column.width)

    def on_resize(self) -> None:
        self.fit_columns(self.size.width)

    def watch_show_vertical_scrollbar(self) -> None:
        # Rows arrived or left and the scroll bar came or went: the Prompt column takes its room.
        self.fit_columns(self.size.width)

    def column_widths(self, width: int) -> dict[str, int]:
        """The Prompt column takes the space the columns before it leave (the ones after it
        are a horizontal scroll away); those narrow on a small terminal."""
        narrow = width < NARROW_GRID
        widths = {c.key: NARROW_WIDTHS.get(c.key, c.width) if narrow else c.width for c in COLUMNS}
        pad = 2 * self.cell_padding
        before = 1 + pad  # the mark column
        for column in COLUMNS:
            if column.key == "prompt":
                break
            before += widths[column.key] + pad
        scrollbar = self.styles.scrollbar_size_vertical if self.show_vertical_scrollbar else 0
        widths["prompt"] = max(PROMPT_MIN, width - before - pad - scrollbar)
        return widths

    def fit_columns(self, width: int) -> None:
        if not self.columns or width <= 0:
            return
        changed = False
        for key, wanted in self.column_widths(width).items():
            column = self.columns.get(ColumnKey(key))
            if column is not None and column.width != wanted:
                column.width = wanted
                changed = True
        if changed:
            self._require_update_dimensions = True
            self._clear_caches()
            self.refresh()

    def _update_dimensions(self, new_rows) -> None:
        # Every column has a fixed width, so measuring each new cell (DataTable's default, a
        # few seconds for 5 000 rows) cannot change anything: only the virtual size is needed.
        if any(column.auto_width for column in self.columns.values()):
            super()._update_dimensions(new_rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(
            width + self._row_label_column_width, self._total_row_height + header
        )

    def _cells(self, row: AssetRow) -> list:
        # A str cell would be read as markup, with its control characters passed on: every
        # cell is Text or a PlainCell (project text, made printable when drawn).
        cells = [c.render(row) for c in COLUMNS]
        return [Text("●" if row.key in self.marked else "")] + [
            cell if isinstance(cell, Text) else PlainCell(cell) for cell in cells
        ]

    def show(self, rows: list[AssetRow]) -> None:
        """Replace every row (keeps the cursor on the same asset when it is still shown). The
        first chunk is in the table on return, the rest follows from a worker."""
        current = self._cursor_wanted or self.current_key
        self._generation += 1
        self._pending = {}
        self._cursor_wanted = None
        self.clear()
        self._append(rows[:CHUNK])
        if len(rows) > CHUNK:
            self._pending = {row.key: row for row in rows[CHUNK:]}
            self._fill(self._generation)
        if current is not None:
            self.move_to(current)

    @work(group="grid-fill", exit_on_error=False)
    async def _fill(self, generation: int) -> None:
        # Not exclusive: a fill that a newer rebuild replaced ends by itself at the generation
        # check (a cancelled worker would fail whoever awaits the app's workers).
        while self._pending and generation == self._generation:
            await asyncio.sleep(0)  # keys, messages and repaints run between chunks
            if generation != self._generation:
                return
            keys = list(islice(self._pending, CHUNK))
            self._append([self._pending.pop(key) for key in keys])
            wanted = self._cursor_wanted
            if wanted is not None and wanted not in self._pending:
                self._cursor_wanted = None
                self.move_to(wanted)

    @property
    def filling(self) -> bool:
        """True while a rebuild still appends rows."""
        return bool(self._pending)

    @property
    def shown_count(self) -> int:
        """Rows shown once the rebuild in progress is done."""
        return self.row_count + len(self._pending)

    def has_row(self, key: str) -> bool:
        return key in self.rows or key in self._pending

    def _append(self, rows: list[AssetRow]) -> None:
        """Add rows at the bottom: per row what ``DataTable.add_row`` does, with its per-table
        work (column order, cursor clamping, idle check: ~90 µs a row) done once per batch."""
        if not rows:
            return
        if not self._fast_append:
            for row in rows:
                self.add_row(*self._cells(row), key=row.key)
            return
        columns = [column.key for column in self.ordered_columns]
        locations, data, meta, new = self._row_locations, self._data, self.rows, self._new_rows
        index = len(meta)
        was_empty = index == 0
        for row in rows:
            key = RowKey(row.key)
            if key in locations:
                continue  # already shown (added while this rebuild was filling)
            locations[key] = index
            index += 1
            data[key] = dict(zip(columns, self._cells(row)))
            meta[key] = Row(key, 1)
            new.add(key)
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        if was_empty and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        # add_row bumps ``_update_count``, which drops every rendered line and cell: appending
        # below the rows on screen changes none of them (keys, indices, zebra stripes stay), so
        # only the row offsets are recomputed; the chunks of a rebuild then cost no repaint.
        self._offset_cache.clear()
        self.check_idle()

    def add_rows_keyed(self, rows: list[AssetRow]) -> None:
        """Append rows not shown yet (after the pending ones while a rebuild fills)."""
        rows = [row for row in rows if not self.has_row(row.key)]
        if self._pending:
            self._pending.update((row.key, row) for row in rows)
        else:
            self._append(rows)

    def update_row(self, row: AssetRow) -> bool:
        """Refresh one row's cells in place; False when the row is not shown. Repaints that
        row only, and nothing when no cell changed (``update_cell`` repaints the whole grid)."""
        if row.key in self._pending:
            self._pending[row.key] = row
            return True
        if row.key not in self.rows:
            return False
        self._set_cells(row.key, dict(zip(["mark"] + [c.key for c in COLUMNS], self._cells(row))))
        return True

    def _set_cells(self, key: str, values: dict) -> None:
        if not self._fast_append:
            for column, value in values.items():
                self.update_cell(key, column, value)
            return
        data = self._data[RowKey(key)]
        changed = {
            ColumnKey(c): v for c, v in values.items() if not _same(data.get(ColumnKey(c)), v)
        }
        if not changed:
            return
        data.update(changed)
        self._update_count += 1  # drops DataTable's rendered-line caches
        self.refresh_row(self.get_row_index(key))

    def drop_row(self, key: str) -> None:
        if self._pending.pop(key, None) is not None:
            return
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
        if key in self._pending:
            self._cursor_wanted = key  # moved there when its chunk is appended
            return True
        try:
            index = self.get_row_index(key)
        except RowDoesNotExist:
            return False
        self._cursor_wanted = None
        self.move_cursor(row=index, scroll=True)
        return True

    def keys_in_order(self) -> list[str]:
        return [row.key.value for row in self.ordered_rows] + list(self._pending)

    def action_toggle_mark(self) -> None:
        key = self.current_key
        if key is None:
            return
        if key in self.marked:
            self.marked.discard(key)
            self._set_cells(key, {"mark": Text("")})
        else:
            self.marked.add(key)
            self._set_cells(key, {"mark": Text("●")})
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)
