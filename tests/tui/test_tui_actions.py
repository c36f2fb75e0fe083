"""vidpipe-tui actions through Textual's pilot on real project databases: face merge (g) and
split (G) through vidpipe.pipeline.face_review, cancelling a queued job after the confirmation,
the contact sheet screen, the preview image widget. Workers awaited, no sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.tui_support import make_project, settle, text_of, wait_for

SIZE = (180, 50)

# Cosine distances: A-B ~0.005 (one person), C far from both; grouped at 0.3.
EMBEDDINGS = {"face_a": [1.0, 0.0, 0.0], "face_b": [0.99, 0.1, 0.0], "face_c": [0.0, 1.0, 0.0]}


def make_app(root: Path, **kwargs):
    from tui.app import VidpipeApp

    kwargs.setdefault("watch_folder", False)
    return VidpipeApp(root, keymap={}, **kwargs)


def asset(name: str):
    from vidpipe.store.models import Asset

    return Asset.get(Asset.name == name)


@pytest.fixture
def faces_project(tmp_path) -> Path:
    """Three face crops in manifest "faces", grouped {a, b} {c} by the real grouping code."""
    from vidpipe.store.models import Asset, AssetState, Manifest, Source, db
    from vidpipe.store.session import open_project
    from vidpipe.pipeline.characters.regroup import regroup_project

    root = make_project(tmp_path / "project", images=0)
    session = open_project(root)
    try:
        with db.atomic():
            manifest = Manifest.create(name="faces", folder="faces")
            for order, (name, vector) in enumerate(EMBEDDINGS.items()):
                Asset.create(
                    manifest=manifest,
                    name=name,
                    asset_type="CHARACTER",
                    source=Source.EXTRACTED,
                    file_path=f".vidpipe/crops/{name}.png",
                    content_hash=f"hash-{name}",
                    is_face_crop=True,
                    face_embedding=vector,
                    detection_confidence=0.9,
                    crop_bbox=[0, 0, 10, 10],
                    state=AssetState.PROCESSED,
                    sort_order=order,
                )
        summary = regroup_project(threshold=0.3)
        assert (summary.faces, summary.groups, summary.duplicates) == (3, 2, 1)
    finally:
        session.close()
    return root


async def grid_of(pilot, rows: int):
    screen = pilot.app.main_screen
    await wait_for(
        pilot, lambda: screen.table.row_count == rows and screen.signature, what=f"{rows} rows"
    )
    return screen


def group_of(name: str) -> int | None:
    return asset(name).face_group


async def test_merge_key_joins_the_marked_face_and_the_one_under_the_cursor(faces_project):
    from vidpipe.store.models import FaceDecision

    app = make_app(faces_project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await grid_of(pilot, 3)
        a, b, c = (asset(n).id for n in EMBEDDINGS)
        assert group_of("face_a") == group_of("face_b") != group_of("face_c")
        assert [screen.rows[k].name for k in screen.table.keys_in_order()] == list(EMBEDDINGS)

        await pilot.press("down", "down", "space")  # mark face_c
        assert screen.table.marked == {str(c)}
        await pilot.press("up", "up")  # cursor on face_a
        assert screen.table.current_key == str(a)
        await pilot.press("g")
        await wait_for(
            pilot,
            lambda: len({group_of(n) for n in EMBEDDINGS}) == 1,
            what="one group for the three faces",
        )
        decision = FaceDecision.get()
        assert (decision.asset_a_id, decision.asset_b_id, decision.same) == (
            min(a, c),
            max(a, c),
            True,
        )
        assert screen.table.marked == set()
        await wait_for(
            pilot,
            lambda: len({screen.rows[str(i)].face_group for i in (a, b, c)}) == 1,
            what="the grid showing one group",
        )
        primary = screen.rows[str(a)].face_group
        duplicates = [screen.rows[str(i)].duplicate_of for i in (a, b, c) if i != primary]
        assert len(duplicates) == 2 and all(duplicates)  # "dup of <primary>" in the Face column
        assert any("Merged 2 faces" in n.message for n in app._notifications)


async def test_split_key_takes_the_face_out_of_its_group(faces_project):
    from vidpipe.store.models import FaceDecision

    app = make_app(faces_project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await grid_of(pilot, 3)
        a, b = asset("face_a").id, asset("face_b").id
        await pilot.press("down")  # face_b, in face_a's group
        assert screen.rows[screen.table.current_key].name == "face_b"
        await pilot.press("G")
        await wait_for(
            pilot,
            lambda: group_of("face_b") != group_of("face_a"),
            what="face_b in a group of its own",
        )
        assert asset("face_b").duplicate_of_id is None
        assert asset("face_a").duplicate_of_id is None  # face_a's group has one face left
        assert [(d.asset_a_id, d.asset_b_id, d.same) for d in FaceDecision.select()] == [
            (min(a, b), max(a, b), False)
        ]
        await wait_for(
            pilot,
            lambda: screen.rows[str(b)].face_group != screen.rows[str(a)].face_group,
            what="the grid showing the split",
        )
        assert screen.rows[str(b)].duplicate_of == ""


async def test_split_on_a_face_without_group_only_warns(tmp_path):
    from vidpipe.store.models import FaceDecision

    root = make_project(tmp_path / "project", images=1)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await grid_of(pilot, 1)
        await pilot.press("G", "g")
        await settle(pilot)
        assert FaceDecision.select().count() == 0
        messages = [n.message for n in app._notifications]
        assert any("not in a face group" in m for m in messages)
        assert any("Mark a face" in m for m in messages)


async def test_cancel_key_asks_then_cancels_the_queued_job(tmp_path):
    from vidpipe.store.models import Manifest, Run, StageProgress
    from vidpipe.pipeline.runs import create_run
    from vidpipe.store.session import open_project

    root = make_project(tmp_path / "project", images=2)
    session = open_project(root)
    try:
        run_id = create_run("process", manifest_id=Manifest.get().id).id
    finally:
        session.close()

    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await grid_of(pilot, 2)
        await wait_for(
            pilot,
            lambda: screen.snapshot and len(screen.snapshot.queued) == 1,
            what="the queued job on the dashboard",
        )

        await pilot.press("c")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "ChoiceScreen", what="the confirmation"
        )
        assert "Cancel" in text_of(app.screen.query_one("#choice-question"))
        await pilot.press("n")  # changed my mind
        await settle(pilot)
        assert app.screen is screen
        assert Run.get_by_id(run_id).status == "queued"

        await pilot.press("c")
        await wait_for(
            pilot,
            lambda: type(app.screen).__name__ == "ChoiceScreen",
            what="the confirmation again",
        )
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: Run.get_by_id(run_id).status == "cancelled",
            what="the run cancelled in the database",
        )
        assert {p.status for p in StageProgress.select().where(StageProgress.run == run_id)} == {
            "cancelled"
        }
        await wait_for(pilot, lambda: not screen.snapshot.queued, what="the queue emptied")
        assert any(f"#{run_id}" in n.message for n in app._notifications)


async def test_contact_sheet_key_opens_the_manifest_sheets(tmp_path):
    from vidpipe.pipeline.engine import ManifestingEngine
    from vidpipe.store.models import Manifest
    from vidpipe.store.session import open_project
    from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage

    root = make_project(tmp_path / "project", images=3)
    session = open_project(root)
    try:  # the real stage writes the pages and records them on the manifest
        engine = ManifestingEngine(session.project, session.settings, stages=[ContactSheetStage()])
        engine.process_manifest(Manifest.get(), "missing")
        pages = list(Manifest.get().contact_sheets)
    finally:
        session.close()
    assert len(pages) == 1 and (root / pages[0]).is_file()

    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await grid_of(pilot, 3)
        await pilot.press("C")
        sheet = await wait_for(
            pilot,
            lambda: type(app.screen).__name__ == "ContactSheetScreen" and app.screen,
            what="the contact sheet screen",
        )
        assert sheet.names == pages
        assert sheet.pages[0].size[0] <= 1600  # decoded downscaled, in the worker
        assert f"1/1  {pages[0]}" in str(sheet.query_one("#sheet-title").render())
        image = sheet.query_one("#sheet-image")
        assert image.image is sheet.pages[0]
        assert type(image).__name__ == "UnicodeImage"  # not a terminal: textual-image's choice
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen, what="the sheet closed")


async def test_contact_sheet_key_without_sheets_says_so(tmp_path):
    root = make_project(tmp_path / "project", images=1)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        await grid_of(pilot, 1)
        await pilot.press("C")
        await wait_for(
            pilot,
            lambda: any("No contact sheet yet" in n.message for n in app._notifications),
            what="the notice",
        )
        assert app.screen is app.main_screen


async def test_preview_draws_each_picture_in_the_same_widget(tmp_path):
    root = make_project(tmp_path / "project", images=2)
    app = make_app(root)
    async with app.run_test(size=SIZE) as pilot:
        screen = await grid_of(pilot, 2)
        preview = screen.query_one("#preview")
        image = preview.query_one("#preview-image")
        first = await wait_for(pilot, lambda: image.image, what="the first picture")
        assert first.size == (96, 64) and image.display
        await pilot.press("down")
        await wait_for(pilot, lambda: image.image is not first, what="the second image")
        assert image.image.size == (97, 64)
        assert len(preview.query("#preview-image")) == 1  # reused, not mounted again
