"""The characters view (K, or "Characters" in the palette) through Textual's pilot on a real
project database: the list, images with roles, rename, description edit, primary pick, undo.
Workers awaited, no sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.tui_support import make_project, wait_for

SIZE = (180, 50)
FRONT = {"box": [0, 0, 10, 10], "left_eye": [7, 4], "right_eye": [3, 4], "nose": [5, 6]}
SIDE = {"box": [0, 0, 10, 10], "left_eye": [7, 4], "right_eye": [4, 4], "nose": [9, 6]}


@pytest.fixture
def characters_project(tmp_path) -> Path:
    """Two people: anna in two manifests (a front and a profile face), bert in one."""
    from vidpipe.pipeline.characters.regroup import regroup_project
    from vidpipe.store.models import Asset, AssetState, Manifest, Source, db
    from vidpipe.store.session import open_project

    root = make_project(tmp_path / "project", images=0)
    session = open_project(root)
    try:
        with db.atomic():
            for folder, name, vector, landmarks, sharpness in (
                ("cast", "anna_front", [1.0, 0.0, 0.0], FRONT, 40.0),
                ("street", "anna_side", [0.99, 0.1, 0.0], SIDE, 90.0),
                ("cast", "bert", [0.0, 1.0, 0.0], FRONT, 10.0),
            ):
                manifest = Manifest.get_or_create(name=folder, folder=folder)[0]
                Asset.create(
                    manifest=manifest,
                    name=name,
                    asset_type="CHARACTER",
                    source=Source.EXTRACTED,
                    file_path=f".vidpipe/crops/{name}.png",
                    content_hash=f"hash-{name}",
                    is_face_crop=True,
                    face_embedding=vector,
                    face_landmarks=landmarks,
                    sharpness=sharpness,
                    detection_confidence=0.9,
                    crop_bbox=[0, 0, 10, 10],
                    state=AssetState.PROCESSED,
                    manifest_tag="CHAR_01",
                )
        regroup_project(threshold=0.3)
    finally:
        session.close()
    return root


def make_app(root: Path):
    from tui.app import VidpipeApp

    return VidpipeApp(root, keymap={}, watch_folder=False)


def character(handle: str):
    from vidpipe.store.models import Character

    return Character.get_or_none(Character.handle == handle)


async def open_characters(pilot):
    from tui.screens.characters import CharactersScreen

    await pilot.press("K")
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, CharactersScreen) and len(pilot.app.screen.views) == 2,
        what="the characters view",
    )
    return pilot.app.screen


async def test_lists_characters_with_their_images_and_roles(characters_project):
    async with make_app(characters_project).run_test(size=SIZE) as pilot:
        screen = await open_characters(pilot)
        handles = [v.handle for v in screen.views]
        assert handles == ["PERSON_01", "PERSON_02"]
        images = screen.query_one("#character-images")
        assert images.row_count == 2  # anna: cast and street
        rows = [images.get_row_at(i) for i in range(2)]
        assert [(r[0], str(r[1]), str(r[2])) for r in rows] == [
            ("*", "front", "cast"),
            (" ", "profile", "street"),
        ]
        await pilot.press("down")  # bert
        await wait_for(pilot, lambda: screen.current == "PERSON_02", what="bert on screen")
        assert images.row_count == 1


async def test_rename_describe_pick_primary_and_undo(characters_project):
    async with make_app(characters_project).run_test(size=SIZE) as pilot:
        screen = await open_characters(pilot)
        await pilot.press("r")
        await pilot.press(*"hero", "enter")  # the old handle is selected: typing replaces it
        await wait_for(pilot, lambda: character("HERO") is not None, what="the rename")
        await wait_for(
            pilot,
            lambda: screen.current == "HERO" and screen.view() is not None,
            what="the view on HERO",
        )

        await pilot.press("e")
        await pilot.press(*"Short grey hair", "ctrl+s")
        await wait_for(
            pilot,
            lambda: character("HERO").description == "Short grey hair",
            what="the description",
        )
        assert character("HERO").description_origin == "user"

        await pilot.press("tab")  # to the images
        await pilot.press("down", "p")  # the profile image becomes the primary
        side = [i for i in screen.view().images if i.role == "profile"][0]
        await wait_for(
            pilot,
            lambda: (
                character("HERO").primary_asset == side.asset_id
                and character("HERO").primary_picked
            ),
            what="the primary pick",
        )
        await wait_for(
            pilot,
            lambda: screen.view().primary.asset_id == side.asset_id,
            what="the view showing the pick",
        )

        await pilot.press("shift+tab", "ctrl+z")  # undo the pick: the sharpest front again
        await wait_for(pilot, lambda: not character("HERO").primary_picked, what="the undo")


async def test_a_bad_handle_is_refused_with_the_rule(characters_project):
    app = make_app(characters_project)
    async with app.run_test(size=SIZE) as pilot:
        await open_characters(pilot)
        await pilot.press("r")
        await pilot.press(*"9 lives", "enter")
        await wait_for(
            pilot,
            lambda: any("start with a letter" in n.message for n in app._notifications),
            what="the refusal",
        )
        assert character("PERSON_01") is not None


def test_the_palette_offers_the_characters_view():
    from tui.commands import main_commands

    class Screen:
        def extra_commands(self):
            return []

        def __getattr__(self, name):
            return lambda *args: name

    titles = {title: action for title, _, action in main_commands(Screen())}
    assert titles["Characters"]() == "action_characters"


async def test_split_a_face_off_and_merge_it_back(characters_project):
    from vidpipe.store.models import Asset

    def handle_of(name):
        from vidpipe.store.models import Character

        return Character.get_by_id(Asset.get(Asset.name == name).character_id).handle

    async with make_app(characters_project).run_test(size=SIZE) as pilot:
        screen = await open_characters(pilot)
        await pilot.press("tab", "down", "G")  # anna's profile face (street) is someone else
        await wait_for(
            pilot,
            lambda: handle_of("anna_side") == "PERSON_03",
            what="the split face's new character",
        )
        assert handle_of("anna_front") == "PERSON_01"
        await wait_for(pilot, lambda: len(screen.views) == 3, what="three characters listed")

        await pilot.press("shift+tab", "g")
        await pilot.press(*"person_03", "enter")
        await wait_for(pilot, lambda: handle_of("anna_side") == "PERSON_01", what="the merge back")
        await wait_for(pilot, lambda: len(screen.views) == 2, what="two characters listed")


async def test_the_grid_names_each_face_by_its_character_and_follows_a_rename(characters_project):
    from vidpipe.store.character_edits import edit_character

    async with make_app(characters_project).run_test(size=SIZE) as pilot:
        screen = pilot.app.main_screen
        await wait_for(
            pilot,
            lambda: (
                screen.rows
                and {r.character for r in screen.rows.values()} == {"PERSON_01", "PERSON_02"}
            ),
            what="the cast grid with handles",
        )
        edit_character(character("PERSON_01").id, "handle", "HERO")
        await wait_for(
            pilot,
            lambda: {r.character for r in screen.rows.values()} == {"HERO", "PERSON_02"},
            what="the grid following the rename",
        )
