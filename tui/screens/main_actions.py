"""What the keys of the main screen do. Blocking work (database writes, queueing, files) runs in
worker threads; results come back as notifications and, through the database watcher, as rows.
A failing worker becomes a notification (see VidpipeApp.on_worker_state_changed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work

from vidpipe.ops.daemon_registry import TeamStatus
from tui import job_requests
from tui.screens.confirm import confirm
from tui.workers import db_thread

if TYPE_CHECKING:
    from tui.screens.main_host import MainHost
else:
    MainHost = object  # the type checker's view of MainScreen, which this is mixed into


class MainActions(MainHost):
    """Mixed into MainScreen; relies on its ``rows``, ``table``, ``snapshot`` and ``app``."""

    # -- selection -------------------------------------------------------------------------------
    def selected_asset_ids(self) -> list[int]:
        """Marked assets, else the one under the cursor (untracked files are skipped)."""
        keys = list(self.table.marked) or (
            [self.table.current_key] if self.table.current_key else []
        )
        return [self.rows[k].asset_id for k in keys if k in self.rows]

    def _require_asset(self):
        row = self.current_row()
        if row is None:
            self.notify("No asset selected.", severity="warning")
            return None
        if not row.tracked:
            self.notify(
                f"{row.file_path} is not ingested yet; the daemon picks it up "
                "(press D if none runs).",
                severity="warning",
            )
            return None
        return row

    # -- editing ---------------------------------------------------------------------------------
    def action_edit(self, field: str) -> None:
        row = self._require_asset()
        if row is not None:
            self._open_editor(row.asset_id, field)

    @work(thread=True, exit_on_error=False, group="editor")
    @db_thread
    def _open_editor(self, asset_id: int, field: str) -> None:
        from tui.screens.editor import AssetEditorScreen, load_editor_data

        data = load_editor_data(asset_id)
        self.app.call_from_thread(
            self.app.push_screen,
            AssetEditorScreen(data, self.app.drafts, field),
            self._editor_closed,
        )

    def _editor_closed(self, request) -> None:
        if request is None:
            return
        if not request.changes:
            self.app.drafts.discard(request.asset_id)
            return
        self._save_edits(request)

    @work(thread=True, exit_on_error=False, group="save")
    @db_thread
    def _save_edits(self, request) -> None:
        from vidpipe.store.edits import edit_field, latest_edit, who
        from vidpipe.store.models import Asset
        from tui.drafts import Draft
        from tui.screens.editor import TITLES, as_text

        drafts = self.app.drafts
        asset = Asset.get_by_id(request.asset_id)
        # Someone saved a field after this person opened it: theirs is not replaced silently.
        conflicts = {
            f: latest_edit(request.asset_id, f)
            for f in request.changes
            if as_text(f, getattr(asset, f)) != request.baseline.get(f)
        }
        saved = [f for f in request.changes if f not in conflicts]
        for field in saved:  # one UPDATE of one column each
            edit_field(request.asset_id, field, request.changes[field], person=drafts.writer.user)
        if conflicts:
            drafts.save(
                Draft(
                    request.asset_id,
                    {f: request.changes[f] for f in conflicts},
                    {f: request.baseline[f] for f in conflicts},
                )
            )
        else:
            drafts.discard(request.asset_id)
        label = f"{asset.manifest_tag or '—'} {asset.name}"
        if saved:
            self.app.call_from_thread(
                self.notify,
                f"Saved {', '.join(TITLES[f] for f in saved)} of {label}.",
                title="Saved",
            )
        for field, edit in conflicts.items():
            by = f" (edit #{edit.id} by {who(edit)})" if edit is not None else ""
            self.app.call_from_thread(
                self.notify,
                f"{TITLES[field]} of {label} changed after you opened it{by}; kept "
                "that value. Yours is kept as your draft: e shows it, and saving it there "
                "replaces theirs (theirs stays in the history).",
                title="Conflict",
                severity="warning",
                timeout=15,
            )

    def action_undo(self) -> None:
        row = self._require_asset()
        if row is not None:
            self._undo_redo(row.asset_id, redo=False)

    def action_redo(self) -> None:
        row = self._require_asset()
        if row is not None:
            self._undo_redo(row.asset_id, redo=True)

    @work(thread=True, exit_on_error=False, group="undo")
    @db_thread
    def _undo_redo(self, asset_id: int, redo: bool) -> None:
        from vidpipe.store.edits import redo as redo_edit, undo as undo_edit

        edit = redo_edit(asset_id) if redo else undo_edit(asset_id)
        verb = "Redid" if redo else "Undid"
        if edit is None:
            text = f"Nothing to {'redo' if redo else 'undo'} for this asset."
        elif edit.change and edit.change.startswith("retag-"):
            text = f"{verb} the whole retag (every tag and text it changed)."
        elif edit.change:
            text = f"{verb} the type change and the tag it gave."
        else:
            text = f"{verb} the {edit.author} edit of {edit.field}."
        self.app.call_from_thread(self.notify, text)

    def action_adopt(self) -> None:
        row = self._require_asset()
        if row is None:
            return
        if not row.has_suggestion:
            self.notify("No AI suggestion waits for this asset.")
            return
        self._adopt_all(row.asset_id)

    @work(thread=True, exit_on_error=False, group="adopt")
    @db_thread
    def _adopt_all(self, asset_id: int) -> None:
        from vidpipe.store.edits import adopt_suggestion, suggestions

        adopted = []
        for edit in suggestions(asset_id):  # newest first: the newest per field wins
            if edit.field not in adopted:
                adopt_suggestion(edit.id)
                adopted.append(edit.field)
        self.app.call_from_thread(
            self.notify, f"Adopted the AI suggestion for {', '.join(adopted)} (ctrl+z undoes)."
        )

    # -- review ----------------------------------------------------------------------------------
    def action_toggle_reviewed(self) -> None:
        ids = self.selected_asset_ids()
        if not ids:
            self._require_asset()
            return
        rows = [self.rows[str(i)] for i in ids]
        self._set_reviewed(ids, not all(r.reviewed for r in rows))
        self.table.marked.clear()
        if len(ids) == 1 and self.table.cursor_row < self.table.row_count - 1:
            self.table.move_cursor(row=self.table.cursor_row + 1)

    @work(thread=True, exit_on_error=False, group="review")
    @db_thread
    def _set_reviewed(self, asset_ids: list[int], reviewed: bool) -> None:
        from vidpipe.store.edits import set_reviewed

        set_reviewed(asset_ids, reviewed, person=self.app.drafts.writer.user)

    def action_next_unreviewed(self) -> None:
        keys = self.table.keys_in_order()
        if not keys:
            return
        start = self.table.cursor_row
        for offset in range(1, len(keys) + 1):
            key = keys[(start + offset) % len(keys)]
            row = self.rows.get(key)
            if row is not None and not row.reviewed:
                self.table.move_to(key)
                return
        self.notify("Every asset shown is reviewed.")

    # -- jobs ------------------------------------------------------------------------------------
    def action_reprocess(self, overwrite: bool = False) -> None:
        ids = self.selected_asset_ids()
        if not ids:
            self._require_asset()
            return
        self.table.marked.clear()
        self._queue_reprocess(ids, overwrite)

    @work(thread=True, exit_on_error=False, group="jobs")
    @db_thread
    def _queue_reprocess(self, asset_ids: list[int], overwrite: bool) -> None:
        run_ids = job_requests.queue_reprocess(self.app.project.root, asset_ids, overwrite)
        what = f"reprocess of {len(asset_ids)} asset{'s' if len(asset_ids) > 1 else ''}"
        self.app.call_from_thread(self._queued, run_ids, what)

    def _queued(self, run_ids: list[int], what: str) -> None:
        runs = ", ".join(f"#{i}" for i in run_ids)
        note = (
            ""
            if self.daemon is None or self.daemon.running
            else " No daemon runs: press D to start one."
        )
        self.notify(f"Queued {what} (job {runs}).{note}", title="Queued")
        self.refresh_snapshot()
        self.rebuild_table()

    def action_process(self, mode: str = "missing") -> None:
        if self.manifest_id is None:
            self.notify(
                "This folder has no manifest yet: its files are not ingested.", severity="warning"
            )
            return
        if mode == "all":
            manifest_id = self.manifest_id

            def gone(snapshot) -> str | None:
                if any(m.id == manifest_id for m in snapshot.manifests):
                    return None
                return "The manifest is gone (its folder was removed); nothing to process."

            self.app.push_screen(
                confirm(
                    "Redo every stage for every asset of this manifest?", "Process all", gone=gone
                ),
                lambda answer: answer == "yes" and self._queue_process(manifest_id, "all"),
            )
        else:
            self._queue_process(self.manifest_id, mode)

    @work(thread=True, exit_on_error=False, group="jobs")
    @db_thread
    def _queue_process(self, manifest_id: int, mode: str) -> None:
        run_id = job_requests.queue_process(self.app.project.root, manifest_id, mode)
        self.app.call_from_thread(self._queued, [run_id], f"processing ({mode})")

    def _job_in_focus(self):
        snapshot = self.snapshot
        if snapshot is None:
            return None
        if snapshot.running:
            return snapshot.running[0]
        return snapshot.queued[0] if snapshot.queued else None

    def action_cancel_job(self) -> None:
        run = self._job_in_focus()
        if run is None:
            self.notify("No job is running or queued.")
            return

        def ended(snapshot) -> str | None:
            if any(r.id == run.id for r in snapshot.running + snapshot.queued):
                return None
            return f"Job #{run.id} ended before you answered; nothing to cancel."

        self.app.push_screen(
            confirm(
                f"Cancel {run.label} ({run.status})? Finished work is kept.",
                "Cancel job",
                gone=ended,
            ),
            lambda answer: answer == "yes" and self._cancel(run.id),
        )

    @work(thread=True, exit_on_error=False, group="jobs")
    @db_thread
    def _cancel(self, run_id: int) -> None:
        done = job_requests.cancel(run_id)
        self.app.call_from_thread(
            self.notify,
            f"Cancellation of #{run_id} requested."
            if done
            else f"Job #{run_id} had already ended.",
        )

    def action_start_daemon(self) -> None:
        if self.daemon is not None and self.daemon.running:
            if isinstance(self.daemon, TeamStatus):  # a shared queue: vidpipe-daemon adds more
                self.notify(
                    f"{len(self.daemon.serving)} daemon(s) already serve this project; "
                    "start another on a GPU box with vidpipe-daemon."
                )
            else:
                self.notify(f"A daemon already runs for this project (pid {self.daemon.pid}).")
            return
        self.notify("Starting the daemon…")
        self._start_daemon()

    @work(thread=True, exit_on_error=False, group="daemon")
    @db_thread  # with a shared queue, readiness is read from the database
    def _start_daemon(self) -> None:
        started = job_requests.start_daemon(self.app.project.root)
        state = "started" if started.ready else "still starting"
        self.app.call_from_thread(
            self.notify,
            f"Daemon {state} (pid {started.pid}); its log is in .vidpipe/logs/.",
            title="Daemon",
        )

    def action_show_errors(self, whole_project: bool = False) -> None:
        if whole_project:
            self._load_errors(None, "the project")
        elif self.manifest_id is None:
            self.notify("This folder has no manifest yet: its files are not ingested.")
        else:
            name = next(
                (
                    m.name
                    for m in (self.snapshot.manifests if self.snapshot else ())
                    if m.id == self.manifest_id
                ),
                self.folder or "",
            )
            self._load_errors(self.manifest_id, f"manifest {name}")

    def action_show_project_errors(self) -> None:
        self.action_show_errors(whole_project=True)

    @work(thread=True, exit_on_error=False, group="errors")
    @db_thread
    def _load_errors(self, manifest_id: int | None, where: str) -> None:
        from tui.screens.errors import ErrorsScreen
        from tui.snapshot import manifest_errors

        errors = manifest_errors(manifest_id)
        self.app.call_from_thread(
            self.app.push_screen,
            ErrorsScreen(where, errors, by_manifest=manifest_id is None),
            self._jump_to_asset,
        )

    def _jump_to_asset(self, asset_id: int | None) -> None:
        if asset_id is not None and not self.table.move_to(str(asset_id)):
            self.notify("That asset is not shown (another manifest, or filtered out).")

    # -- output ----------------------------------------------------------------------------------
    def action_export(self) -> None:
        self._export()

    @work(thread=True, exit_on_error=False, group="export")
    @db_thread
    def _export(self) -> None:
        from vidpipe.review.export import write_export

        path = write_export(self.app.project)
        self.app.call_from_thread(self.notify, f"Manifest exported to {path}", title="Export")

    def action_contact_sheet(self) -> None:
        if self.manifest_id is None:
            self.notify("No manifest selected.")
            return
        self._load_sheets(self.manifest_id)

    @work(thread=True, exit_on_error=False, group="sheet")
    @db_thread
    def _load_sheets(self, manifest_id: int) -> None:
        from vidpipe.imaging import load_rgb
        from vidpipe.store.models import Manifest
        from tui.graphics import image_widget_class
        from tui.screens.sheet import ContactSheetScreen

        image_widget_class()  # imported in this thread, not on the UI thread

        names = list(Manifest.get_by_id(manifest_id).contact_sheets or [])
        pages = [
            load_rgb(
                self.app.project.absolute(name),
                self.app.settings.max_image_pixels,
                max_side=1600,
                within=self.app.project.root,
            )
            for name in names
        ]
        if not pages:
            self.app.call_from_thread(self.notify, "No contact sheet yet: process the manifest.")
            return
        self.app.call_from_thread(self.app.push_screen, ContactSheetScreen(pages, names))

    def action_characters(self) -> None:
        from tui.screens.characters import CharactersScreen

        self.app.push_screen(CharactersScreen())

    # -- faces -----------------------------------------------------------------------------------
    def _face_rows(self, keys: list[str]):
        rows = [self.rows[k] for k in keys if k in self.rows]
        return [r for r in rows if r.is_face]

    def action_merge_faces(self) -> None:
        keys = list(self.table.marked)
        current = self.table.current_key
        if current and current not in keys:
            keys.append(current)
        ids = [r.asset_id for r in self._face_rows(keys)]
        if len(ids) < 2:
            self.notify(
                "Mark a face (space), move to another face, then merge: they become one person.",
                severity="warning",
            )
            return
        self.table.marked.clear()
        self._merge_faces(ids)

    @work(thread=True, exit_on_error=False, group="faces")
    @db_thread
    def _merge_faces(self, asset_ids: list[int]) -> None:
        from vidpipe.pipeline.face_review import merge_face_groups

        summary = None
        for other in asset_ids[1:]:
            summary = merge_face_groups(asset_ids[0], other)
        self.app.call_from_thread(
            self.notify,
            f"Merged {len(asset_ids)} faces into one person: "
            f"{summary.groups} groups, {summary.duplicates} duplicates now.",
        )

    def action_split_face(self) -> None:
        row = self._require_asset()
        if row is None:
            return
        if row.face_group is None:
            self.notify("This asset is not in a face group.", severity="warning")
            return
        self._split_face(row.asset_id)

    @work(thread=True, exit_on_error=False, group="faces")
    @db_thread
    def _split_face(self, asset_id: int) -> None:
        from vidpipe.pipeline.face_review import split_face

        summary = split_face(asset_id)
        self.app.call_from_thread(
            self.notify,
            f"Face taken out of its group: {summary.groups} "
            f"groups, {summary.duplicates} duplicates now.",
        )
