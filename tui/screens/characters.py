"""The characters view: every person of the project with a stable handle, their images with
roles, and a person's edits (rename, name, description, primary image).

Reads and writes go through vidpipe.pipeline.characters in worker threads; the view reloads
when the database changes (the main screen calls ``check_stored`` on open screens).
"""

from __future__ import annotations

from functools import partial

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from tui.plain import plain
from tui.screens.text_prompt import LinePrompt, TextPrompt
from tui.workers import ReportsWorkerErrors, db_thread


class CharactersScreen(ReportsWorkerErrors, ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close", id="characters.close"),
        Binding(
            "r",
            "rename",
            "Rename",
            id="characters.rename",
            tooltip="A new handle for the character (HERO): letters, digits, underscores",
        ),
        Binding("n", "name", "Name", id="characters.name"),
        Binding("e", "describe", "Edit description", id="characters.describe"),
        Binding(
            "p",
            "pick_primary",
            "Primary",
            id="characters.primary",
            tooltip="The image under the cursor (in the images list) becomes the primary",
        ),
        Binding(
            "g",
            "merge",
            "Merge",
            id="characters.merge",
            tooltip="Another character is the same person: both become one",
        ),
        Binding(
            "G",
            "split",
            "Split",
            id="characters.split",
            tooltip="The face under the cursor (in the images list) is someone else",
        ),
        Binding(
            "ctrl+z",
            "undo",
            "Undo",
            id="characters.undo",
            tooltip="Undo the last edit of the character under the cursor",
        ),
    ]

    def __init__(self):
        super().__init__()
        self.views: list = []  # CharacterView, by number
        self.current: str | None = None  # handle on screen

    def compose(self) -> ComposeResult:
        with Vertical(id="characters"):
            yield Label(plain("Characters"), id="characters-title")
            with Horizontal(id="characters-body"):
                yield DataTable(id="character-list", cursor_type="row")
                with Vertical(id="character-detail"):
                    yield Static("", id="character-description")
                    yield DataTable(id="character-images", cursor_type="row")
            yield Static(
                plain(
                    "r rename · n name · e description · p primary (in the images) · "
                    "g merge · G split a face off · ctrl+z undo · tab: list/images · "
                    "esc close"
                ),
                id="characters-keys",
            )

    def on_mount(self) -> None:
        self.query_one("#character-list", DataTable).add_columns("Handle", "Name", "Images")
        self.query_one("#character-images", DataTable).add_columns(
            " ", "Role", "Manifest", "Tag", "File"
        )
        self.load()

    def check_stored(self) -> None:
        """The database changed: show what it holds now."""
        self.load()

    @work(thread=True, exit_on_error=False, group="characters", exclusive=True)
    @db_thread
    def load(self) -> None:
        from vidpipe.pipeline.characters import list_characters

        views = list_characters()
        self.app.call_from_thread(self._show, views)

    # -- showing ---------------------------------------------------------------------------------
    def _show(self, views: list) -> None:
        self.views = views
        table = self.query_one("#character-list", DataTable)
        keep = self.current
        table.clear()
        for view in views:
            table.add_row(
                plain(view.handle),
                plain(view.name, one_line=True),
                str(len(view.images)),
                key=view.handle,
            )
        if not views:
            self.current = None
            self.query_one("#character-description", Static).update(
                plain("No characters yet: they come from the faces the pipeline finds.")
            )
            self.query_one("#character-images", DataTable).clear()
            return
        handles = [v.handle for v in views]
        row = handles.index(keep) if keep in handles else 0
        table.move_cursor(row=row)
        self._show_character(handles[row])

    def _show_character(self, handle: str) -> None:
        self.current = handle
        view = self.view()
        if view is None:
            return
        title = f"{view.handle}" + (f" — {view.name}" if view.name else "")
        description = view.description or "(no description yet)"
        self.query_one("#character-description", Static).update(
            plain(f"{title}\n\n{description}", one_line=False)
        )
        images = self.query_one("#character-images", DataTable)
        cursor = images.cursor_row
        images.clear()
        for image in view.images:
            primary = view.primary is not None and image.asset_id == view.primary.asset_id
            images.add_row(
                "*" if primary else " ",
                plain(image.role),
                plain(image.manifest, one_line=True),
                plain(image.tag or "—"),
                plain(image.file, one_line=True),
                key=str(image.asset_id),
            )
        if view.images:
            images.move_cursor(row=min(cursor, len(view.images) - 1))

    @on(DataTable.RowHighlighted, "#character-list")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        handle = event.row_key.value if event.row_key is not None else None
        if handle is not None and handle != self.current:
            self._show_character(handle)

    def view(self):
        return next((v for v in self.views if v.handle == self.current), None)

    # -- editing ---------------------------------------------------------------------------------
    def _require(self):
        view = self.view()
        if view is None:
            self.notify("No character selected.", severity="warning")
        return view

    def action_rename(self) -> None:
        view = self._require()
        if view is not None:
            self.app.push_screen(
                LinePrompt(f"New handle for {view.handle}", view.handle),
                lambda value: self._save(view.handle, "handle", value),
            )

    def action_name(self) -> None:
        view = self._require()
        if view is not None:
            self.app.push_screen(
                LinePrompt(f"Name of {view.handle}", view.name),
                lambda value: self._save(view.handle, "name", value),
            )

    def action_describe(self) -> None:
        view = self._require()
        if view is not None:
            self.app.push_screen(
                TextPrompt(f"Description of {view.handle}", view.description),
                lambda value: self._save(view.handle, "description", value),
            )

    def _image_under_cursor(self) -> int | None:
        images = self.query_one("#character-images", DataTable)
        if not images.row_count:
            return None
        row_key, _ = images.coordinate_to_cell_key(images.cursor_coordinate)
        return int(row_key.value) if row_key.value is not None else None

    def action_pick_primary(self) -> None:
        view = self._require()
        asset_id = self._image_under_cursor()
        if view is not None and asset_id is not None:
            self._save(view.handle, "primary_asset", asset_id)

    def action_merge(self) -> None:
        view = self._require()
        if view is not None:
            self.app.push_screen(
                LinePrompt(f"Which character is the same person as {view.handle}? (its handle)"),
                partial(self._merge_answered, view.handle),
            )

    def _merge_answered(self, handle: str, other: str | None) -> None:
        if other:
            self._merge(handle, other)

    @work(thread=True, exit_on_error=False, group="character-edit")
    @db_thread
    def _merge(self, handle: str, other: str) -> None:
        from vidpipe.pipeline.characters.editing import merge_characters

        merged = merge_characters(handle, other)
        self.current = merged
        self.app.call_from_thread(
            self.notify, f"{handle} and {other.strip().upper()} are one character now: {merged}."
        )
        self.app.call_from_thread(self.load)

    def action_split(self) -> None:
        view = self._require()
        asset_id = self._image_under_cursor()
        if view is not None and asset_id is not None:
            self._split(view.handle, asset_id)

    @work(thread=True, exit_on_error=False, group="character-edit")
    @db_thread
    def _split(self, handle: str, asset_id: int) -> None:
        from vidpipe.pipeline.characters.editing import split_image

        now = split_image(handle, asset_id)
        self.app.call_from_thread(self.notify, f"That face left {handle}: it is {now} now.")
        self.app.call_from_thread(self.load)

    def _save(self, handle: str, field: str, value) -> None:
        if value is None:
            return
        if field == "handle":
            self.current = str(value).strip().upper()  # keep the cursor on it after the reload
        self._write(handle, field, value)

    @work(thread=True, exit_on_error=False, group="character-edit")
    @db_thread
    def _write(self, handle: str, field: str, value) -> None:
        from vidpipe.pipeline.characters.editing import character_by_handle, set_primary
        from vidpipe.store.character_edits import edit_character

        character = character_by_handle(handle)
        if field == "primary_asset":
            set_primary(character.id, value)
        else:
            edit_character(character.id, field, value)
        self.app.call_from_thread(self.notify, f"{handle}: {field.replace('_', ' ')} saved.")
        self.app.call_from_thread(self.load)

    def action_undo(self) -> None:
        view = self._require()
        if view is not None:
            self._undo(view.handle)

    @work(thread=True, exit_on_error=False, group="character-edit")
    @db_thread
    def _undo(self, handle: str) -> None:
        from vidpipe.pipeline.characters.editing import character_by_handle
        from vidpipe.store.character_edits import undo

        edit = undo(character_by_handle(handle).id)
        text = f"{handle}: undid the {edit.field} edit." if edit else f"{handle}: nothing to undo."
        if edit is not None and edit.field == "handle":
            self.current = edit.old_value
        self.app.call_from_thread(self.notify, text)
        self.app.call_from_thread(self.load)
