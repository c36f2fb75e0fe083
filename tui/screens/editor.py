"""Editing one asset: every field a person may change, AI suggestions side by side, `$EDITOR`
for long text (F4), and a draft on disk after every keystroke so nothing typed is ever lost."""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static, TextArea

from vidpipe.errors import VidpipeError
from vidpipe.store.models import AssetType
from vidpipe.printable import printable
from vidpipe.store.safe_io import write_atomic
from tui.drafts import Draft, DraftError, DraftStore
from tui.plain import plain
from tui.screens.confirm import ChoiceScreen
from tui.widgets.fit import Fitted
from tui.workers import ReportsWorkerErrors, db_thread

SHORT_FIELDS = ("name", "asset_type", "user_tags", "sort_order")
LONG_FIELDS = ("reverse_prompt", "visual_description", "description")
TITLES = {
    "name": "Name",
    "asset_type": "Type",
    "user_tags": "Tags (a, b)",
    "sort_order": "Order",
    "reverse_prompt": "Reverse prompt",
    "visual_description": "Visual description",
    "description": "Description",
}


class LongText(TextArea):
    """A TextArea with the document keys other editors have: ctrl+home / ctrl+end go to the
    start / end of the text (with shift, selecting)."""

    BINDINGS = [
        Binding("ctrl+home", "document_start", "Start of text", show=False),
        Binding("ctrl+end", "document_end", "End of text", show=False),
        Binding("ctrl+shift+home", "document_start(True)", "Select to start", show=False),
        Binding("ctrl+shift+end", "document_end(True)", "Select to end", show=False),
    ]

    def action_document_start(self, select: bool = False) -> None:
        self.move_cursor(self.document.start, select=select)

    def action_document_end(self, select: bool = False) -> None:
        self.move_cursor(self.document.end, select=select)


@dataclass
class Suggestion:
    edit_id: int
    value: str


@dataclass
class EditorData:
    """What the editor opens with, read from the database in a worker."""

    asset_id: int
    label: str
    values: dict[str, str]
    suggestions: dict[str, Suggestion] = field(default_factory=dict)


def as_text(field_name: str, value) -> str:
    """A field's value as the editor shows it. Control characters (an escape sequence in a file
    name) are shown as visible escapes, never sent to the terminal; so the editor's baseline is
    this text too, and a field the person does not touch is not written back."""
    if field_name == "user_tags":
        value = ", ".join(str(tag) for tag in value or [])
    if field_name == "asset_type" and value not in AssetType.__members__.values():
        value = AssetType.UNKNOWN.value  # the type Select offers only the known ones
    return printable(value, one_line=field_name in SHORT_FIELDS)


def load_editor_data(asset_id: int) -> EditorData:
    """Blocking: the asset's editable fields and the newest unapplied AI value per field."""
    from vidpipe.store.edits import suggestions
    from vidpipe.store.models import Asset

    asset = Asset.get_by_id(asset_id)
    values = {f: as_text(f, getattr(asset, f)) for f in SHORT_FIELDS + LONG_FIELDS}
    waiting: dict[str, Suggestion] = {}
    for edit in suggestions(asset_id):  # newest first
        if edit.field in values and edit.field not in waiting:
            waiting[edit.field] = Suggestion(edit.id, as_text(edit.field, edit.new_value))
    label = f"{asset.manifest_tag or '—'}  {asset.name}"
    return EditorData(asset_id, label, values, waiting)


@dataclass
class EditRequest:
    """What the person wants written: only the fields that differ from what the editor opened with."""

    asset_id: int
    changes: dict[str, str]
    baseline: dict[str, str]


class AssetEditorScreen(ReportsWorkerErrors, ModalScreen[EditRequest | None]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="editor.save", priority=True),
        Binding("escape", "close", "Close", id="editor.close"),
        Binding(
            "f4",
            "external_editor",
            "$EDITOR",
            id="editor.external",
            priority=True,
            tooltip="Edit the focused text in $EDITOR",
        ),
        Binding("ctrl+t", "adopt", "Adopt AI suggestion", id="editor.adopt", priority=True),
    ]

    def __init__(self, data: EditorData, drafts: DraftStore, focus_field: str = "reverse_prompt"):
        super().__init__()
        self.data = data
        self.drafts = drafts
        self.focus_field = focus_field
        self.baseline = dict(data.values)
        self.problems: list[str] = []
        try:
            self.restored = drafts.load(data.asset_id)
        except DraftError as exc:
            self.restored = None
            self.problems.append(str(exc))
        #: field -> who else has unsaved text in it, said as a sentence
        self.editing_elsewhere: dict[str, str] = {}
        for draft in drafts.others(data.asset_id):
            if draft.user == drafts.writer.user:
                said = "you are editing this field in another session (unsaved)"
            elif draft.alive:
                said = f"{draft.user} is editing this field (unsaved)"
            else:
                said = f"{draft.user} left unsaved text in this field (their session ended)"
            for name in draft.fields:
                self.editing_elsewhere.setdefault(name, said)
        #: field -> the $EDITOR file it is written in (a leftover of an ended session is
        #: reopened, so the editor finds its own swap file and offers to recover it)
        self.editor_files: dict[str, Path] = {}
        self.from_editor: dict[str, str] = {}
        for leftover in drafts.editor_leftovers(data.asset_id):
            try:
                self.from_editor[leftover.field] = drafts.read_editor_file(leftover.path)
            except (OSError, UnicodeDecodeError, VidpipeError) as exc:
                self.problems.append(f"{leftover.path.name} left by $EDITOR not read: {exc}")
            self.editor_files[leftover.field] = leftover.path
        #: fields someone else saved while this editor was open (told once each)
        self.changed_elsewhere: set[str] = set()
        self._draft_warned = False

    def opening_values(self) -> dict[str, str]:
        values = dict(self.data.values)
        if self.restored:
            values.update(
                {
                    name: printable(text, one_line=name in SHORT_FIELDS)
                    for name, text in self.restored.fields.items()
                }
            )
        values.update({name: printable(text) for name, text in self.from_editor.items()})
        return values

    def _title(self, name: str) -> str:
        said = self.editing_elsewhere.get(name)
        return TITLES[name] + (f" · {said}" if said else "")

    def compose(self) -> ComposeResult:
        values = self.opening_values()
        with Vertical(id="editor"):
            yield Label(plain(f"Edit {self.data.label}"), id="editor-title")
            with VerticalScroll(id="editor-fields"):
                with Horizontal(id="editor-short"):
                    yield self._labelled("name", Input(values["name"], id="name"))
                    types = [(t.value.title(), t.value) for t in AssetType]
                    yield self._labelled(
                        "asset_type",
                        Select(
                            types, value=values["asset_type"], allow_blank=False, id="asset_type"
                        ),
                    )
                    yield self._labelled("user_tags", Input(values["user_tags"], id="user_tags"))
                    yield self._labelled(
                        "sort_order", Input(values["sort_order"], id="sort_order", type="integer")
                    )
                for name in LONG_FIELDS:
                    yield Label(plain(self._title(name)), classes="field-title", id=f"title-{name}")
                    with Horizontal(classes="long-field"):
                        yield LongText(
                            values[name], id=name, soft_wrap=True, show_line_numbers=False
                        )
                        suggestion = self.data.suggestions.get(name)
                        if suggestion:
                            with Vertical(classes="suggestion", id=f"suggestion-{name}"):
                                yield Label("★ AI suggestion (ctrl+t adopts)")
                                yield TextArea(
                                    suggestion.value,
                                    read_only=True,
                                    soft_wrap=True,
                                    show_line_numbers=False,
                                )
            yield Static(
                Fitted(
                    Text(
                        "ctrl+s save · esc close · F4 $EDITOR · ctrl+t adopt suggestion · "
                        "a draft is kept on disk as you type"
                    ),
                    Text("ctrl+s save · esc close · F4 $EDITOR · ctrl+t adopt AI"),
                ),
                id="editor-hint",
            )

    def _labelled(self, name: str, widget) -> Vertical:
        return Vertical(Label(TITLES[name]), widget, classes="short-field")

    def on_mount(self) -> None:
        self.query_one(f"#{self.focus_field}").focus()
        for problem in self.problems:
            self.notify(problem, title="Draft ignored", severity="warning", timeout=10)
        asset = " ".join(self.data.label.split())  # "CHAR_05 hero", one line
        if self.restored:
            stale = [f for f, v in self.restored.baseline.items() if self.baseline.get(f) != v]
            note = f"Restored your unsaved draft of {asset} from {self.restored.saved_at}."
            if stale:
                note += (
                    " The stored value changed since (saving now replaces it; the other "
                    "value stays in the history): " + ", ".join(TITLES[f] for f in stale)
                )
            self.notify(note, title="Draft restored", timeout=10)
        if self.from_editor:
            fields = ", ".join(TITLES[f] for f in self.from_editor)
            swap = any(
                path.parent.glob(f".{path.name}.sw[a-p]") for path in self.editor_files.values()
            )
            self.notify(
                f"Restored what you wrote in $EDITOR for {fields} of {asset} before "
                "your session ended."
                + (
                    " Your editor kept unwritten text in a swap "
                    "file: F4 reopens it and offers to recover it."
                    if swap
                    else ""
                ),
                title="$EDITOR text restored",
                timeout=12,
            )
            self._write_draft()
        for name, said in self.editing_elsewhere.items():
            self.notify(
                f"{TITLES[name]} of {asset}: {said}. Whoever saves second is told; "
                "nothing is replaced silently.",
                title="Also editing",
                severity="warning",
                timeout=10,
            )

    def stored_values_changed(self, stored: dict[str, str], by: dict[str, str]) -> None:
        """The database holds ``stored`` now: tell the person, once per field, when someone
        else saved a field they have open (their save will then report a conflict)."""
        for name, value in stored.items():
            if value == self.baseline.get(name) or name in self.changed_elsewhere:
                continue
            self.changed_elsewhere.add(name)
            self.notify(
                f"{by.get(name, 'Someone')} saved {TITLES[name]} after you opened it. "
                "If you save, yours is not written over it: you are told, and your text "
                "stays in your draft.",
                title="Changed meanwhile",
                severity="warning",
                timeout=12,
            )

    def check_stored(self) -> None:
        """The database changed: was it this asset, in a field open here?"""
        self._load_stored()

    @work(thread=True, exclusive=True, exit_on_error=False, group="stored")
    @db_thread
    def _load_stored(self) -> None:
        from vidpipe.store.edits import latest_edit, who
        from vidpipe.store.models import Asset

        asset = Asset.get_or_none(Asset.id == self.data.asset_id)
        if asset is None:
            return
        stored = {f: as_text(f, getattr(asset, f)) for f in SHORT_FIELDS + LONG_FIELDS}
        changed = {
            f: v
            for f, v in stored.items()
            if v != self.baseline.get(f) and f not in self.changed_elsewhere
        }
        if not changed:
            return
        by = {f: who(edit) for f in changed if (edit := latest_edit(asset.id, f)) is not None}
        self.app.call_from_thread(self.stored_values_changed, changed, by)

    # -- current values, drafts ------------------------------------------------------------------
    def current_values(self) -> dict[str, str]:
        values = {}
        for name in SHORT_FIELDS:
            widget = self.query_one(f"#{name}")
            values[name] = str(widget.value) if name != "asset_type" else str(widget.value)
        for name in LONG_FIELDS:
            values[name] = self.query_one(f"#{name}", TextArea).text
        return values

    def changes(self) -> dict[str, str]:
        return {f: v for f, v in self.current_values().items() if v != self.baseline.get(f)}

    def _write_draft(self) -> None:
        try:
            self.drafts.save(Draft(self.data.asset_id, self.changes(), dict(self.baseline)))
        except (OSError, VidpipeError) as exc:
            # A full disk, or a drafts folder that is a symlink: the edit itself still works.
            if not self._draft_warned:
                self._draft_warned = True
                self.notify(f"typed text is not saved as a draft: {exc}", severity="warning")

    @on(Input.Changed)
    @on(TextArea.Changed)
    @on(Select.Changed)
    def _typed(self, event) -> None:
        if getattr(event, "control", None) is not None and getattr(
            event.control, "read_only", False
        ):
            return
        if self.is_mounted:
            self._write_draft()

    # -- actions ---------------------------------------------------------------------------------
    def action_save(self) -> None:
        self._write_draft()  # kept until the database has the values
        self.dismiss(EditRequest(self.data.asset_id, self.changes(), dict(self.baseline)))

    def action_close(self) -> None:
        if not self.changes():
            self.drafts.discard(self.data.asset_id)
            self.dismiss(None)
            return

        def chosen(choice: str | None) -> None:
            if choice == "save":
                self.action_save()
            elif choice == "discard":
                self.drafts.discard(self.data.asset_id)
                self.dismiss(None)
            elif choice == "keep":
                self.dismiss(None)  # the draft stays on disk and is restored next time

        self.app.push_screen(
            ChoiceScreen(
                "You have unsaved changes.",
                [
                    ("s", "save", "Save"),
                    ("k", "keep", "Keep as draft"),
                    ("d", "discard", "Discard"),
                    ("escape", "back", "Back to editing"),
                ],
            ),
            chosen,
        )

    def _focused_text_area(self) -> TextArea | None:
        focused = self.focused
        if isinstance(focused, TextArea) and focused.id in LONG_FIELDS:
            return focused
        return None

    def action_external_editor(self) -> None:
        area = self._focused_text_area()
        if area is None:
            self.notify("Focus a prompt or description first.", severity="warning")
            return
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        # Named after this session (a leftover of an ended one is reopened): if the session
        # drops while the editor runs, the next one finds the file and offers the text back.
        path = self.editor_files.get(area.id) or self.drafts.editor_path(
            self.data.asset_id, area.id
        )
        self._write_draft()
        self.drafts.folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, area.text, within=self.drafts.state_dir)
        try:
            with self.app.suspend():
                code = subprocess.call([*shlex.split(editor), str(path)])
        except Exception as exc:  # no terminal to hand over (e.g. headless)
            self.notify(f"Cannot open $EDITOR here: {exc}", severity="error")
            return
        if code != 0:
            self.notify(
                f"{editor} exited with status {code}; text left unchanged", severity="warning"
            )
            return
        try:
            text = printable(self.drafts.read_editor_file(path))
        except (OSError, UnicodeDecodeError, VidpipeError) as exc:
            self.notify(
                f"Cannot read what {editor} wrote ({exc}); text left unchanged", severity="error"
            )
            return
        area.load_text(text[:-1] if text.endswith("\n") and not area.text.endswith("\n") else text)
        area.move_cursor(area.document.end)  # go on typing where the editor left off
        self._write_draft()
        # The text is in the draft now; the file and the editor's swap files are not needed.
        self.drafts.remove_editor_file(path)
        self.editor_files.pop(area.id, None)

    def action_adopt(self) -> None:
        area = self._focused_text_area()
        name = area.id if area is not None else None
        if name is None or name not in self.data.suggestions:
            waiting = [TITLES[f] for f in self.data.suggestions]
            self.notify(
                "No AI suggestion for this field."
                + (f" Suggestions wait for: {', '.join(waiting)}" if waiting else ""),
                severity="warning",
            )
            return
        self._adopt(name, self.data.suggestions[name])

    @work(thread=True, exit_on_error=False, group="adopt")
    def _adopt(self, name: str, suggestion: Suggestion) -> None:
        from vidpipe.store.edits import adopt_suggestion
        from vidpipe.store.models import db

        with db.connection_context():
            adopt_suggestion(suggestion.edit_id)
        self.app.call_from_thread(self._adopted, name, suggestion)

    def _adopted(self, name: str, suggestion: Suggestion) -> None:
        self.baseline[name] = suggestion.value
        self.query_one(f"#{name}", TextArea).load_text(suggestion.value)
        self.data.suggestions.pop(name, None)
        self.query_one(f"#suggestion-{name}").remove()
        self._write_draft()
        self.notify(f"Adopted the AI suggestion for {TITLES[name]}.")
