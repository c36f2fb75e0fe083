"""What the TUI says is true (issue 22): E lists a manifest's unreadable files with its job
errors, the "not ingested" count follows the daemon, the manifest list never wraps a count onto
a line of its own, a question about a job that ended closes itself, and the palette never opens
over a question. Real project databases through Textual's pilot; the daemon's part is played by
the same core calls it makes (ingest_file, runs.finish), in this process."""

from __future__ import annotations

from pathlib import Path

from support.tui_support import make_project, settle, text_of, wait_for

SIZE = (160, 45)


def make_app(root: Path, **kwargs):
    from tui.app import VidpipeApp

    kwargs.setdefault("watch_folder", False)
    return VidpipeApp(root, keymap={}, poll_interval=0.05, **kwargs)


def ingest(root: Path, relative: str) -> None:
    from vidpipe.config.settings import load_settings
    from vidpipe.pipeline.ingest import ingest_file
    from vidpipe.store.project import find_project

    project = find_project(root)
    ingest_file(project, load_settings(project.root), root / relative)


def manifest_text(app) -> str:
    option_list = app.main_screen.query_one("#manifests")
    return "\n".join(
        str(option_list.get_option_at_index(i).prompt) for i in range(option_list.option_count)
    )


async def test_errors_key_lists_unreadable_files_of_the_manifest(tmp_path):
    root = make_project(tmp_path / "project", images=2)
    for name in ("notes.jpg", "empty.png"):  # text named .jpg, an empty file
        (root / "characters" / name).write_bytes(
            b"just some text\n" if name == "notes.jpg" else b""
        )
        ingest(root, f"characters/{name}")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.main_screen.table.row_count == 4, what="the grid")
        await pilot.press("E")
        errors = await wait_for(
            pilot,
            lambda: type(app.screen).__name__ == "ErrorsScreen" and app.screen,
            what="the errors screen",
        )
        title = text_of(errors.query_one("#errors-title"))
        assert "2 errors in manifest characters" in title
        assert {(e.stage, e.asset_name) for e in errors.errors} == {
            ("file", "notes"),
            ("file", "empty"),
        }
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen, what="closed")


async def test_not_ingested_count_follows_the_daemon(tmp_path):
    root = make_project(tmp_path / "project", images=1)
    (root / "characters" / "dropped.jpg").write_bytes(b"a text file named .jpg\n")
    (root / "props").mkdir()
    (root / "props" / "cup.jpg").write_bytes(b"also not a picture\n")
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: (
                "1 not ingested" in manifest_text(app)
                and manifest_text(app).count("not ingested") == 2
            ),
            what="both files counted as not ingested",
        )
        ingest(root, "characters/dropped.jpg")  # the daemon takes them: error assets
        ingest(root, "props/cup.jpg")
        await wait_for(
            pilot,
            lambda: "not ingested" not in manifest_text(app),
            what="the counts to follow the database",
        )
        assert "1 errors" in manifest_text(app)


def test_manifest_list_lines_fit_and_never_wrap():
    from rich.console import Console

    from tui.snapshot import ManifestInfo
    from tui.widgets.manifest_list import LINE_WIDTH, label

    info = ManifestInfo(
        1,
        "process props with a long name",
        "props",
        assets=1234,
        errors=567,
        pending=89,
        processed=1000,
        untracked=2222,
        run_status="cancelled",
        reviewed=12,
    )
    text = label(info)
    console = Console(width=LINE_WIDTH + 2, record=True, color_system=None)
    console.print(text)
    lines = console.export_text().splitlines()
    assert len(lines) == str(text).count("\n") + 1  # nothing wrapped
    assert all(line.startswith("  ") for line in lines[1:])
    assert all(len(line) <= LINE_WIDTH for line in lines)
    assert "567 errors" in str(text) and "12/1234 reviewed" in str(text)


async def test_a_question_about_a_job_that_ended_closes_and_the_palette_stays_shut(tmp_path):
    from vidpipe.pipeline.runs import claim, create_run, finish
    from vidpipe.store.models import Manifest, Run, RunStatus
    from vidpipe.store.session import open_project

    root = make_project(tmp_path / "project", images=1)
    session = open_project(root)
    try:
        run_id = create_run("process", manifest_id=Manifest.get().id).id
    finally:
        session.close()
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.main_screen
        await wait_for(
            pilot,
            lambda: screen.snapshot and len(screen.snapshot.queued) == 1,
            what="the queued job",
        )
        await pilot.press("c")
        question = await wait_for(
            pilot,
            lambda: type(app.screen).__name__ == "ChoiceScreen" and app.screen,
            what="the cancel question",
        )
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert app.screen is question  # no palette over the question

        assert claim(run_id)  # the daemon ran it and ended it meanwhile
        finish(run_id, RunStatus.DONE)
        await wait_for(pilot, lambda: app.screen is screen, what="the question to close")
        assert any(
            f"Job #{run_id} ended before you answered" in n.message for n in app._notifications
        )
        await pilot.press("y")  # nothing is asked any more: y is not an answer to it
        await settle(pilot)
        assert Run.get_by_id(run_id).status == RunStatus.DONE
        assert not any("had already ended" in n.message for n in app._notifications)


async def test_the_redo_all_question_closes_when_its_manifest_is_gone(tmp_path):
    from vidpipe.store.models import Manifest

    root = make_project(tmp_path / "project", images=1)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.main_screen
        await wait_for(pilot, lambda: screen.manifest_id is not None, what="the manifest")
        screen.action_process("all")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "ChoiceScreen", what="the redo-all question"
        )
        Manifest.delete().where(Manifest.id == screen.manifest_id).execute()
        await wait_for(pilot, lambda: app.screen is screen, what="the question to close")
        assert any("The manifest is gone" in n.message for n in app._notifications)
