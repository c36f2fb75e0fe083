"""vidpipe-tui through Textual's pilot: real project databases, workers awaited, no sleeps."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from support.tui_support import (
    SIZE,
    asset_named,
    bulk_assets,
    loaded,
    make_app,
    make_project,
    settle,
    text_of,
    wait_for,
)


def type_text(text: str) -> list[str]:
    return ["space" if ch == " " else ch for ch in text]


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project(tmp_path / "project", images=3)


async def test_grid_shows_assets_and_manifests(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 3)
        assert screen.folder == "characters"
        names = [screen.rows[key].name for key in screen.table.keys_in_order()]
        assert names == ["hero_00", "hero_01", "hero_02"]
        # The folder name hinted the type.
        assert {screen.rows[key].asset_type for key in screen.rows} == {"CHARACTER"}
        assert "characters" in str(screen.query_one("#manifests").get_option_at_index(0).prompt)


async def test_dashboard_follows_progress_rows_written_by_another_process(project):
    script = textwrap.dedent("""
        import sys
        from vidpipe.store.models import Manifest, Run, StageProgress, utcnow
        from vidpipe.pipeline.runs import create_run
        from vidpipe.store.session import open_project
        open_project(sys.argv[1])
        step = sys.argv[2]
        manifest = Manifest.get(Manifest.folder == "characters")
        if step == "start":
            run = create_run("process", manifest_id=manifest.id)
            Run.update(status="running", started_at=utcnow()).where(Run.id == run.id).execute()
            StageProgress.update(status="running", done=3, total=10, errors=1,
                                 current_item="hero_01.png", started_at=utcnow()).where(
                StageProgress.run == run.id, StageProgress.stage == "detection").execute()
        else:
            StageProgress.update(status="done", done=10, current_item=None).where(
                StageProgress.stage == "detection").execute()
    """)

    def write(step: str) -> None:
        subprocess.run([sys.executable, "-c", script, str(project), step], check=True, timeout=60)

    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 3)
        panel = screen.query_one("#job-panel")
        assert "No job yet" in text_of(panel)
        write("start")
        text = await wait_for(
            pilot,
            lambda: "3/10" in text_of(panel) and text_of(panel),
            what="detection 3/10 on the dashboard",
        )
        assert "hero_01.png" in text and "1 err" in text and "running" in text
        write("finish")
        await wait_for(pilot, lambda: "10/10" in text_of(panel), what="detection 10/10")


async def test_edit_prompt_by_keyboard_then_undo_and_redo(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 3)
        await pilot.press("e")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "AssetEditorScreen", what="the editor"
        )
        await pilot.press(*type_text("a red haired hero"), "ctrl+s")
        await wait_for(
            pilot,
            lambda: asset_named("hero_00").reverse_prompt == "a red haired hero",
            what="the prompt saved",
        )
        from vidpipe.store.edits import history, user_edited_fields

        asset_id = asset_named("hero_00").id
        assert [e.author for e in history(asset_id, "reverse_prompt")] == ["user"]
        assert "reverse_prompt" in user_edited_fields(asset_id)
        assert not app.drafts.asset_ids()  # saved: no draft left behind
        row = await wait_for(
            pilot,
            lambda: "✎" in text_of_row(screen, str(asset_id)) and screen.rows[str(asset_id)],
            what="the edit marker",
        )
        assert row.reverse_prompt == "a red haired hero"

        await pilot.press("ctrl+z")
        await wait_for(
            pilot,
            lambda: asset_named("hero_00").reverse_prompt == "",
            what="undo restoring the prompt",
        )
        await wait_for(
            pilot,
            lambda: screen.rows[str(asset_id)].reverse_prompt == "",
            what="the grid showing the undo",
        )
        await pilot.press("ctrl+y")
        await wait_for(
            pilot, lambda: asset_named("hero_00").reverse_prompt == "a red haired hero", what="redo"
        )


def text_of_row(screen, key: str) -> str:
    return " ".join(str(cell) for cell in screen.table.get_row(key))


async def test_typed_text_survives_a_closed_session_as_a_draft(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 3)
        await pilot.press("e")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "AssetEditorScreen", what="the editor"
        )
        await pilot.press(*type_text("half typed"))
        await settle(pilot)
        # The session ends without saving (a dropped SSH connection looks the same to us).
    asset_id = asset_named("hero_00").id
    assert asset_named("hero_00").reverse_prompt == ""
    assert asset_id in app.drafts.asset_ids()

    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 3)
        await pilot.press("e")
        area = await wait_for(
            pilot,
            lambda: (
                type(app.screen).__name__ == "AssetEditorScreen"
                and app.screen.query_one("#reverse_prompt")
            ),
            what="the editor",
        )
        assert area.text == "half typed"
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: asset_named("hero_00").reverse_prompt == "half typed",
            what="the restored draft saved",
        )
        assert not app.drafts.asset_ids()


async def test_failed_save_is_a_notification_and_keeps_the_draft(project):
    from vidpipe.store.models import Asset

    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 3)
        await pilot.press("e")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "AssetEditorScreen", what="the editor"
        )
        await pilot.press(*type_text("precious words"))
        asset_id = app.screen.data.asset_id
        Asset.delete().where(Asset.id == asset_id).execute()  # gone under our feet
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: any(n.severity == "error" for n in app._notifications),
            what="an error notification",
        )
        assert app.is_running
        assert app.drafts.load(asset_id).fields["reverse_prompt"] == "precious words"


async def test_drafts_folder_leading_outside_is_refused_and_typing_goes_on(project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    drafts = project / ".vidpipe" / "drafts"
    drafts.parent.mkdir(exist_ok=True)
    if drafts.exists():
        drafts.rmdir()
    os.symlink(outside, drafts)
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 3)
        await pilot.press("e")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "AssetEditorScreen", what="the editor"
        )
        await pilot.press(*type_text("still typing"))
        await wait_for(
            pilot,
            lambda: any("not saved as a draft" in n.message for n in app._notifications),
            what="the warning",
        )
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: asset_named("hero_00").reverse_prompt == "still typing",
            what="the edit saved",
        )
        assert app.is_running
    assert os.listdir(outside) == []


async def test_filter_language_and_jump_to_next_unreviewed(tmp_path):
    root = make_project(tmp_path / "project", images=0)
    bulk_assets(root, 20, folder="bulk")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 20)
        await pilot.press("slash", *type_text("type:char"), "enter")
        await wait_for(pilot, lambda: screen.table.row_count == 4, what="4 characters")
        assert {screen.rows[k].asset_type for k in screen.table.keys_in_order()} == {"CHARACTER"}
        await pilot.press("escape")
        await wait_for(pilot, lambda: screen.table.row_count == 20, what="filter cleared")

        # Mark the first two reviewed (m moves down), go back to the top, jump.
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("m")
        from vidpipe.store.models import Asset

        await wait_for(
            pilot,
            lambda: Asset.select().where(Asset.reviewed == True).count() == 2,  # noqa: E712
            what="two assets reviewed",
        )
        await wait_for(
            pilot,
            lambda: sum(r.reviewed for r in screen.rows.values()) == 2,
            what="grid showing reviewed",
        )
        screen.table.move_cursor(row=0)
        await pilot.press("n")
        assert screen.table.cursor_row == 2

        await pilot.press("slash", *type_text("reviewed:no -type:env"), "enter")
        await wait_for(pilot, lambda: screen.table.row_count == 14, what="reviewed:no -type:env")

        await pilot.press("escape", "slash", *type_text("colour:red"))
        await settle(pilot)
        assert screen.query_one("#filter").has_class("-invalid")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: any("unknown filter" in n.message for n in app._notifications),
            what="filter error",
        )


async def test_five_thousand_assets_load(tmp_path):
    root = make_project(tmp_path / "project", images=0)
    bulk_assets(root, 5000, folder="bulk")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 5000)
        await pilot.press("end")
        await pilot.press("slash", *type_text("state:pending"), "enter")
        await wait_for(pilot, lambda: screen.table.row_count == 1667, what="pending rows")


async def test_dropped_image_shows_as_not_ingested_without_a_daemon(project):
    app = make_app(project, watch_folder=True)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 3)
        staging = project.parent / "drop.png"
        Image.new("RGB", (40, 40), (9, 9, 9)).save(staging)
        os.replace(staging, project / "characters" / "newcomer.png")
        await wait_for(
            pilot,
            lambda: "file:characters/newcomer.png" in screen.table.rows,
            what="the dropped file in the grid",
        )
        assert "not ingested" in text_of_row(screen, "file:characters/newcomer.png")
        (project / "props").mkdir()
        Image.new("RGB", (40, 40), (9, 9, 9)).save(project / "props" / "chair.png")
        await wait_for(
            pilot,
            lambda: any(
                m.folder == "props" and m.untracked == 1 for m in screen.snapshot.manifests
            ),
            what="a folder with files not ingested listed",
        )


async def test_ai_suggestion_after_a_person_edit_is_shown_and_adopted(project):
    from vidpipe.store.edits import apply_ai_value, edit_field, suggestions

    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 3)
        asset_id = asset_named("hero_00").id
        edit_field(asset_id, "reverse_prompt", "my words")
        apply_ai_value(asset_id, "reverse_prompt", "the model's words")
        await wait_for(
            pilot, lambda: screen.rows[str(asset_id)].has_suggestion, what="the suggestion marker"
        )
        assert "★" in text_of_row(screen, str(asset_id))
        await pilot.press("e")
        editor = await wait_for(
            pilot,
            lambda: type(app.screen).__name__ == "AssetEditorScreen" and app.screen,
            what="the editor",
        )
        assert editor.query_one("#suggestion-reverse_prompt")  # side by side
        await pilot.press("ctrl+t")
        await wait_for(
            pilot,
            lambda: asset_named("hero_00").reverse_prompt == "the model's words",
            what="the suggestion adopted",
        )
        assert suggestions(asset_id) == []
        await pilot.press("escape")
        await wait_for(
            pilot, lambda: not screen.rows[str(asset_id)].has_suggestion, what="marker gone"
        )


async def test_reprocess_key_queues_a_job_for_the_selected_asset(project):
    from vidpipe.store.models import Run

    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 3)
        await pilot.press("space", "r")  # mark hero_00 (cursor moves on), reprocess the marked
        run = await wait_for(
            pilot, lambda: Run.get_or_none(Run.kind == "reprocess"), what="a reprocess run"
        )
        assert run.asset_id == asset_named("hero_00").id
        assert run.requested_by == "tui" and run.status == "queued"
        await wait_for(pilot, lambda: len(screen.snapshot.queued) == 1, what="queue shown")
        assert "queued: 1" in text_of(screen.query_one("#job-panel"))


async def test_help_palette_export_and_preview(project):
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 3)
        # The preview decodes the selected image (downscaled) in a worker.
        pane = screen.query_one("#preview")
        preview = await wait_for(
            pilot, lambda: pane.cached_picture(screen.table.current_key), what="the preview image"
        )
        image, caption = preview
        assert image is not None and image.size == (96, 64) and "hero_00" in caption

        await pilot.press("f1")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen", what="help")
        help_text = " ".join(text_of(w) for w in app.screen.query("Static"))
        assert "grid.reprocess" in help_text and "type:char" in help_text
        await pilot.press("escape")

        await pilot.press("ctrl+p")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "CommandPalette", what="the command palette"
        )
        await pilot.press(*type_text("export manifest"))
        await settle(pilot)
        await pilot.press("enter")
        exported = app.project.exports_dir / "manifest.json"
        await wait_for(pilot, exported.exists, what="the export written")
        assert "hero_00" in exported.read_text()


async def test_bindings_are_remappable_by_id(project):
    app = make_app(project)
    app._keymap_override = {"grid.reprocess": "R"}
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, 3)
        await pilot.press("R")
        from vidpipe.store.models import Run

        await wait_for(
            pilot,
            lambda: Run.get_or_none(Run.kind == "reprocess"),
            what="reprocess through the remapped key",
        )


def test_every_binding_has_an_id_and_a_description():
    from tui.app import VidpipeApp
    from tui.screens.confirm import MessageScreen
    from tui.screens.editor import AssetEditorScreen
    from tui.screens.errors import ErrorsScreen
    from tui.screens.help import HelpScreen
    from tui.screens.main import MainScreen
    from tui.screens.retag import RetagPreviewScreen
    from tui.screens.sheet import ContactSheetScreen
    from tui.widgets.asset_table import AssetTable

    bindings = [
        b
        for cls in (
            VidpipeApp,
            MainScreen,
            AssetTable,
            AssetEditorScreen,
            ErrorsScreen,
            HelpScreen,
            ContactSheetScreen,
            MessageScreen,
            RetagPreviewScreen,
        )
        for b in cls.BINDINGS
    ]
    assert all(b.id and b.description for b in bindings)
    ids = [b.id for b in bindings]
    assert len(ids) == len(set(ids))


async def test_grid_rebuild_appends_in_chunks_and_pending_rows_behave_as_shown(
    tmp_path, monkeypatch
):
    from tui.widgets import asset_table

    monkeypatch.setattr(asset_table, "CHUNK", 5)
    root = make_project(tmp_path / "project", images=0)
    bulk_assets(root, 23, folder="bulk")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 23)
        table = screen.table

        def check_table() -> list[str]:
            """Rows appended in bulk read back exactly as DataTable.add_row would give them."""
            keys = table.keys_in_order()
            assert len(keys) == len(set(keys)) == table.row_count
            for index, key in enumerate(keys):
                assert table.coordinate_to_cell_key((index, 0)).row_key.value == key
                assert table.get_row_index(key) == index
                assert table.get_row_at(index) == table._cells(screen.rows[key])
            return keys

        assert check_table() == [
            screen.rows[k].key for k in sorted(screen.rows, key=lambda k: screen.rows[k].sort_order)
        ]

        screen.sort_by("sort_order", reverse=True)  # 5 rows now, 18 from the worker
        assert table.filling and table.row_count == 5 and table.shown_count == 23
        by_order = sorted(screen.rows.values(), key=lambda r: r.sort_order)
        first, last, middle = by_order[0], by_order[-1], by_order[3]
        assert table.has_row(first.key) and first.key not in table.rows  # pending
        changed = type(first)(**{**first.__dict__, "name": "renamed while pending"})
        screen.rows[first.key] = changed
        assert table.update_row(changed)
        table.drop_row(middle.key)
        assert table.move_to(first.key)  # the cursor follows once its chunk is in
        assert table.keys_in_order()[-1] == first.key

        await wait_for(pilot, lambda: not table.filling, what="the rebuild finished")
        keys = check_table()
        assert len(keys) == 22 and middle.key not in keys
        await pilot.pause()
        drawn = app.export_screenshot()  # what is on screen, not only the table's data
        assert all(screen.rows[k].tag in drawn for k in keys)
        assert screen.rows[middle.key].tag not in drawn
        assert keys[0] == last.key and keys[-1] == first.key
        assert table.current_key == first.key
        assert "renamed while pending" in text_of_row(screen, first.key)

        # A rebuild while another fills replaces it: no duplicates, the newest order wins.
        screen.sort_by("name")
        screen.sort_by("sort_order")
        await wait_for(pilot, lambda: not table.filling, what="the second rebuild finished")
        assert check_table() == [r.key for r in by_order]
