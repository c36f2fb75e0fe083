"""The one screen people live in: manifests and job progress on top, the asset grid with a
preview below. This module owns the grid's state; the actions live in ``main_actions``."""

from __future__ import annotations

from pathlib import PurePosixPath

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Header, Input, OptionList

from tui import messages as msg
from tui.query import Query, QueryError, parse
from tui.rows import (
    AssetRow,
    GridSignature,
    changed_asset_ids,
    grid_signature,
    ingested_paths,
    load_rows,
    load_rows_by_id,
    tracked_paths,
    untracked_row,
)
from tui.plain import plain
from tui.screens.main_actions import MainActions
from tui.screens.retag import RetagActions
from tui.snapshot import Snapshot, load_snapshot
from tui.widgets.asset_table import SORT_KEYS, AssetTable, sort_rows
from tui.widgets.footer import Footer
from tui.widgets.job_panel import DaemonBar, JobPanel
from tui.widgets.manifest_list import ManifestList, folder_of
from tui.widgets.preview import PreviewPane
from tui.widgets.quiet import QuietStatic, text_key
from tui.workers import ReportsWorkerErrors, db_thread
from vidpipe.ops.daemon_registry import TeamStatus
from vidpipe.ops.daemon_state import DaemonStatus


def folder_of_path(relative: str) -> str:
    parts = PurePosixPath(relative).parts
    return parts[0] if len(parts) > 1 else ""


MANIFEST_KEYS = Binding.Group("Manifest", compact=True)


class MainScreen(ReportsWorkerErrors, MainActions, RetagActions, Screen):
    AUTO_FOCUS = "#grid"  # focus once, on the grid (not first the manifest list, then the grid)
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="grid.filter"),
        Binding("e", "edit('reverse_prompt')", "Edit", id="grid.edit"),
        Binding(
            "v", "edit('visual_description')", "Edit visual", id="grid.edit_visual", show=False
        ),
        Binding("n", "next_unreviewed", "Next unreviewed", id="grid.next_unreviewed"),
        Binding("m", "toggle_reviewed", "Reviewed", id="grid.reviewed"),
        Binding("r", "reprocess", "Reprocess", id="grid.reprocess"),
        Binding("ctrl+z", "undo", "Undo", id="grid.undo"),
        Binding("ctrl+y", "redo", "Redo", id="grid.redo", show=False),
        Binding("a", "adopt", "Adopt AI", id="grid.adopt", show=False),
        Binding(
            "s",
            "sort(1)",
            "Sort",
            id="grid.sort",
            show=False,
            tooltip="Sort the grid by the next column (manifest order, tag, name, type …)",
        ),
        Binding(
            "S",
            "sort(-1)",
            "Sort back",
            id="grid.sort_back",
            show=False,
            tooltip="Sort the grid by the previous column",
        ),
        Binding(
            "left_square_bracket",
            "manifest(-1)",
            "Manifest",
            id="manifests.previous",
            group=MANIFEST_KEYS,
            tooltip="Show the previous manifest (also: tab to the list, arrows, tab back)",
        ),
        Binding(
            "right_square_bracket",
            "manifest(1)",
            "Manifest",
            id="manifests.next",
            group=MANIFEST_KEYS,
            tooltip="Show the next manifest",
        ),
        Binding(
            "g",
            "merge_faces",
            "Merge faces",
            id="faces.merge",
            show=False,
            tooltip="The marked faces and the one under the cursor are the same person",
        ),
        Binding(
            "G",
            "split_face",
            "Split face",
            id="faces.split",
            show=False,
            tooltip="The face under the cursor is not the person of its group",
        ),
        Binding("p", "process('missing')", "Process", id="job.process"),
        Binding("c", "cancel_job", "Cancel job", id="job.cancel", show=False),
        Binding("E", "show_errors", "Errors", id="job.errors", show=False),
        Binding("D", "start_daemon", "Start daemon", id="daemon.start", show=False),
        Binding("x", "export", "Export", id="app.export", show=False),
        Binding("C", "contact_sheet", "Contact sheet", id="app.contact_sheet", show=False),
        Binding(
            "K",
            "characters",
            "Characters",
            id="app.characters",
            show=False,
            tooltip="Every person of the project: handles, images with roles, descriptions",
        ),
        Binding("i", "toggle_preview", "Preview", id="app.toggle_preview", show=False),
        Binding(
            "I",
            "preview_quality",
            "Preview quality",
            id="app.preview_quality",
            show=False,
            tooltip="Picture quality against bytes on the link: low, high, off",
        ),
        Binding("escape", "clear_filter", "Clear filter", id="grid.clear_filter", show=False),
    ]

    def __init__(self):
        super().__init__()
        self.folder: str | None = None  # manifest on screen, by folder
        self.manifest_id: int | None = None
        self.rows: dict[str, AssetRow] = {}  # key -> AssetRow, every tracked row of the manifest
        self.untracked: dict[str, str] = {}  # relative path -> folder, files not ingested yet
        self.known_paths: set[str] = set()
        self.signature: GridSignature | None = None
        self.query_: Query = parse("")
        self.sort_key = "sort_order"
        self.sort_reverse = False
        self.snapshot: Snapshot | None = None
        self.daemon: DaemonStatus | TeamStatus | None = None
        self._busy: set[str] = set()
        self._again: set[str] = set()
        self._filter_timer = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield ManifestList(id="manifests")
            with Vertical(id="jobs"):
                yield DaemonBar("daemon: checking…", id="daemon")
                yield JobPanel(id="job-panel")
        with Horizontal(id="middle"):
            with Vertical(id="grid-column"):
                yield QuietStatic("", id="grid-status")
                yield AssetTable(id="grid")
                yield Input(
                    placeholder="filter: type:char state:error edited:no -source:"
                    'extracted "free text"  (enter: apply · esc: clear)',
                    id="filter",
                )
            yield PreviewPane(
                lambda: self.table.current_key,
                getattr(self.app, "preview_quality", None),
                id="preview",
            )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter").display = False

    def on_session_opened(self, _: msg.SessionOpened) -> None:
        # The frame is painted (the app opened the project after it): fill it. After one more
        # refresh: the footer fills its keys in a second frame, and the worker threads started
        # here (imports, queries) would otherwise hold the GIL while that frame is drawn.
        self.call_after_refresh(self._load_first_data)

    def _load_first_data(self) -> None:
        self.refresh_snapshot()
        self.scan_folder()

    @property
    def table(self) -> AssetTable:
        return self.query_one(AssetTable)

    # -- coalescing refreshes: at most one of each kind in flight, one more queued -------------
    def _start(self, kind: str) -> bool:
        if kind in self._busy:
            self._again.add(kind)
            return False
        self._busy.add(kind)
        return True

    def _done(self, kind: str) -> None:
        self._busy.discard(kind)
        if kind in self._again:
            self._again.discard(kind)
            {
                "snapshot": self.refresh_snapshot,
                "grid": self.refresh_grid,
                "reload": self.reload_grid,
            }[kind]()

    def refresh_snapshot(self) -> None:
        if self._start("snapshot"):
            self._load_snapshot(self.manifest_id, dict(self.untracked))

    @work(thread=True, exit_on_error=False, group="snapshot")
    @db_thread
    def _load_snapshot(self, manifest_id, untracked: dict[str, str]) -> None:
        try:
            # Counted against the database now: a file the daemon ingested (as an asset or as
            # an error asset) is no longer "not ingested", whichever manifest is on screen.
            ingested = frozenset(ingested_paths(list(untracked)))
            counts: dict[str, int] = {}
            for relative, folder in untracked.items():
                if relative not in ingested:
                    counts[folder] = counts.get(folder, 0) + 1
            snapshot = load_snapshot(manifest_id, counts)
        finally:
            self.app.call_from_thread(self._done, "snapshot")
        self.post_message(msg.SnapshotLoaded(snapshot, ingested))

    def reload_grid(self) -> None:
        if self.folder is None:
            return
        if self._start("reload"):
            self._load_rows(self.manifest_id, self.folder)

    @work(thread=True, exit_on_error=False, group="grid")
    @db_thread
    def _load_rows(self, manifest_id, folder) -> None:
        try:
            rows = load_rows(manifest_id) if manifest_id is not None else []
            signature = grid_signature(manifest_id)
            paths = tracked_paths()
        finally:
            self.app.call_from_thread(self._done, "reload")
        self.post_message(msg.RowsLoaded(manifest_id, folder, rows, signature, paths))

    def refresh_grid(self) -> None:
        if self.manifest_id is None or self.signature is None or "reload" in self._busy:
            return
        if self._start("grid"):
            self._load_changes(self.manifest_id, self.signature)

    @work(thread=True, exit_on_error=False, group="grid")
    @db_thread
    def _load_changes(self, manifest_id: int, since: GridSignature) -> None:
        try:
            now = grid_signature(manifest_id)
            if now == since:
                return
            if now.count != since.count:
                self.app.call_from_thread(self._again.add, "reload")
                self.app.call_from_thread(self.reload_grid)
                return
            rows = load_rows_by_id(changed_asset_ids(manifest_id, since))
        finally:
            self.app.call_from_thread(self._done, "grid")
        self.post_message(msg.RowsChanged(manifest_id, rows, now))

    @work(thread=True, exit_on_error=False, group="scan")
    @db_thread
    def scan_folder(self) -> None:
        from tui.folderwatch import scan

        known = tracked_paths()
        found = [rel for rel in scan(self.app.project) if rel not in known]
        self.post_message(msg.FilesChanged(found, []))

    # -- message handlers: the only place state changes ----------------------------------------
    def on_database_changed(self, _: msg.DatabaseChanged) -> None:
        self.refresh_snapshot()
        self.refresh_grid()
        for screen in self.app.screen_stack:  # an open editor watches its asset
            check = getattr(screen, "check_stored", None)
            if check is not None:
                check()

    def on_database_reachability(self, message: msg.DatabaseReachability) -> None:
        """A server restart: say so where the daemon line is, and once it is back, reload."""
        bar = self.query_one(DaemonBar)
        if message.problem is not None:
            bar.show_unreachable(message.problem)
            self.app.notify(
                f"{message.problem}. Retrying; nothing to do.",
                title="Database unreachable, retrying",
                severity="warning",
            )
            return
        bar.show_status(self.daemon)
        self.app.notify("The database answers again.", title="Database back")
        self.refresh_snapshot()
        self.refresh_grid()

    def on_daemon_checked(self, message: msg.DaemonChecked) -> None:
        first = self.daemon is None
        self.daemon = message.status
        self.query_one(DaemonBar).show_status(message.status)
        if first and not message.status.running:
            self.notify(
                "No daemon runs for this project: jobs you queue wait until one "
                "starts. Press D to start one in the background.",
                title="No daemon",
                severity="warning",
                timeout=10,
            )

    def on_snapshot_loaded(self, message: msg.SnapshotLoaded) -> None:
        for relative in message.ingested:
            if self.untracked.pop(relative, None) is not None:
                self.table.drop_row(untracked_row(relative).key)
        if message.ingested:
            self.update_status()
        for screen in self.app.screen_stack:  # a question about a job that has ended closes
            close_if_gone = getattr(screen, "close_if_gone", None)
            if close_if_gone is not None:
                close_if_gone(message.snapshot)
        old = self.snapshot
        self.snapshot = message.snapshot
        self.query_one(JobPanel).show(message.snapshot)
        if old is None or old.manifests != message.snapshot.manifests:
            self.query_one(ManifestList).show(message.snapshot.manifests, self.folder)
        if self.folder is None and message.snapshot.manifests:
            first = next(
                (m for m in message.snapshot.manifests if m.id is not None),
                message.snapshot.manifests[0],
            )
            self.select_folder(first.folder)
        elif old is not None and old.stage_signature != message.snapshot.stage_signature:
            self.reload_grid()  # a stage ended: many rows may have changed at once
        elif self.folder is not None and self.manifest_id is None:
            self._adopt_manifest_id()

    def _adopt_manifest_id(self) -> None:
        """A folder that had only untracked files got its manifest (the daemon ingested them)."""
        for info in self.snapshot.manifests if self.snapshot else ():
            if info.folder == self.folder and info.id is not None:
                self.manifest_id = info.id
                self.reload_grid()

    def select_folder(self, folder: str) -> None:
        if folder == self.folder:
            return
        self.folder = folder
        self.manifest_id = next(
            (
                m.id
                for m in (self.snapshot.manifests if self.snapshot else ())
                if m.folder == folder
            ),
            None,
        )
        self.rows = {}
        self.signature = None
        self.table.marked.clear()
        self.reload_grid()
        self.refresh_snapshot()

    def action_manifest(self, step: int) -> None:
        folders = [m.folder for m in (self.snapshot.manifests if self.snapshot else ())]
        if not folders:
            return
        index = folders.index(self.folder) if self.folder in folders else -1
        index = (index + step) % len(folders)
        self.query_one(ManifestList).highlighted = index
        self.select_folder(folders[index])

    @on(OptionList.OptionHighlighted, "#manifests")
    def _manifest_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self.select_folder(folder_of(event.option.id))

    def on_rows_loaded(self, message: msg.RowsLoaded) -> None:
        if message.folder != self.folder:
            return
        before = self.rows
        self.rows = {row.key: row for row in message.rows}
        self.signature = message.signature
        self.known_paths = message.tracked_paths
        for relative in [r for r in self.untracked if r in self.known_paths]:
            del self.untracked[relative]
        table = self.table
        visible = self.visible_rows()
        if before and not table.filling and table.keys_in_order() == [r.key for r in visible]:
            # The same rows in the same order (a reload after a stage ended): update the cells
            # that changed rather than redraw the whole grid.
            for row in visible:
                if before.get(row.key) != row:
                    table.update_row(row)
            self.update_status()
            self.show_details()
            return
        self.rebuild_table()

    def on_rows_changed(self, message: msg.RowsChanged) -> None:
        if message.manifest_id != self.manifest_id:
            return
        self.signature = message.signature
        table = self.table
        current = table.current_key
        for row in message.rows:
            if row.key not in self.rows:
                continue  # another manifest's asset (new ones arrive by a full reload)
            self.rows[row.key] = row
            shown = table.has_row(row.key)
            if self.query_(row):
                if shown:
                    table.update_row(row)
                else:
                    table.add_rows_keyed([row])
            elif shown:
                table.drop_row(row.key)
            if row.key == current:
                self.show_details()
        self.update_status()

    def on_files_changed(self, message: msg.FilesChanged) -> None:
        table = self.table
        for relative in message.appeared:
            if relative in self.known_paths:
                continue
            folder = folder_of_path(relative)
            self.untracked[relative] = folder
            row = untracked_row(relative)
            if folder == self.folder and not table.has_row(row.key) and self.query_(row):
                table.add_rows_keyed([row])
        for relative in message.gone:
            if self.untracked.pop(relative, None) is not None:
                table.drop_row(untracked_row(relative).key)
        self.update_status()
        self.refresh_snapshot()

    # -- grid ------------------------------------------------------------------------------------
    def visible_rows(self) -> list:
        rows = [row for row in self.rows.values() if self.query_(row)]
        ordered = sort_rows(rows, self.sort_key, self.sort_reverse)
        extra = [
            untracked_row(rel)
            for rel, folder in sorted(self.untracked.items())
            if folder == self.folder
        ]
        return ordered + [row for row in extra if self.query_(row)]

    def rebuild_table(self) -> None:
        with self.app.batch_update():
            self.table.show(self.visible_rows())
        self.update_status()
        self.show_details()

    def update_status(self) -> None:
        name = next(
            (
                m.name
                for m in (self.snapshot.manifests if self.snapshot else ())
                if m.folder == self.folder
            ),
            self.folder or "",
        )
        total = len(self.rows) + sum(1 for f in self.untracked.values() if f == self.folder)
        parts = [f"{self.table.shown_count} of {total} shown"]
        if not self.query_.empty:
            parts.append(f"filter: {self.query_.text}")
        parts.append(f"sort: {self.sort_key}{' ↓' if self.sort_reverse else ''}")
        if self.table.marked:
            parts.append(f"{len(self.table.marked)} marked")
        status = Text.assemble(plain(name, "bold"), " · ", plain(" · ".join(parts)))
        self.query_one("#grid-status", QuietStatic).show(status, key=text_key(status))

    def current_row(self) -> AssetRow | None:
        key = self.table.current_key
        if key is None:
            return None
        return self.rows.get(key) or (untracked_row(key[5:]) if key.startswith("file:") else None)

    # -- the preview follows the cursor (its pane owns the pictures, tui.widgets.preview) --------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.table:
            self.show_details()

    def show_details(self) -> None:
        self.query_one(PreviewPane).follow(self.current_row())

    def action_toggle_preview(self) -> None:
        self.query_one(PreviewPane).toggle(self.current_row())

    def action_preview_quality(self) -> None:
        quality = self.query_one(PreviewPane).next_quality()
        self.notify(f"Preview quality: {quality}", timeout=2)
        self.show_details()

    def on_resize(self, event: events.Resize) -> None:
        self.query_one(PreviewPane).fit_width(event.size.width)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        try:
            query = parse(event.value)
        except QueryError:
            event.input.add_class("-invalid")
            return
        event.input.remove_class("-invalid")
        if self._filter_timer is not None:
            self._filter_timer.stop()
        # Filter as you type, once typing pauses: rebuilding 5 000 rows per key would lag.
        self._filter_timer = self.set_timer(0.15, lambda: self._apply_query(query))

    def _apply_query(self, query: Query) -> None:
        if query.text != self.query_.text:
            self.query_ = query
            self.rebuild_table()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self._filter_timer is not None:
            self._filter_timer.stop()
        try:
            self.query_ = parse(event.value)
        except QueryError as exc:
            self.notify(str(exc), title="Filter", severity="error")
            return
        self.rebuild_table()
        if not event.value:
            event.input.display = False
        self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.value or box.display:
            box.value = ""
            box.display = False
            self.query_ = parse("")
            self.rebuild_table()
            self.table.focus()

    def action_sort(self, step: int) -> None:
        index = SORT_KEYS.index(self.sort_key)
        self.sort_key = SORT_KEYS[(index + step) % len(SORT_KEYS)]
        self.rebuild_table()

    def sort_by(self, key: str, reverse: bool = False) -> None:
        self.sort_key, self.sort_reverse = key, reverse
        self.rebuild_table()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in SORT_KEYS:
            self.sort_by(key, reverse=(self.sort_key == key and not self.sort_reverse))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table is self.table:
            self.action_edit("reverse_prompt")
