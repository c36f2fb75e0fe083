"""The layout holds from 80×24 up (issue 22): help and quit stay in the footer, the editor's
labels are whole, the Prompt column gets the room the preview leaves, dashboard cells say less
rather than cut a word; manifests switch with [ and ], the editor's ctrl+home/end work. The
screen's text is read from the compositor (what a full repaint would write)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.tui_support import make_processed_project, make_project, settle, wait_for

PROMPT = "cinematic photo of character 1, a person in a city street"


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> Path:
    return make_processed_project(tmp_path_factory.mktemp("layout") / "project", images=4)


def make_app(root: Path):
    from tui.app import VidpipeApp

    return VidpipeApp(root, watch_folder=False, keymap={}, preview_quality="low")


def screen_lines(app) -> list[str]:
    from textual.strip import Strip

    update = app.screen._compositor.render_update(full=True)
    return [Strip.join(list(chops)).text for chops in update.strips]


async def main_screen(pilot, rows: int = 4) -> list[str]:
    app = pilot.app
    await wait_for(
        pilot,
        lambda: app.main_screen.table.row_count == rows and app.main_screen.snapshot is not None,
        what="the grid",
    )
    await wait_for(pilot, lambda: "Help" in screen_lines(app)[-1], what="the footer")
    await settle(pilot)
    return screen_lines(app)


async def test_main_screen_at_80x24(processed):
    app = make_app(processed)
    async with app.run_test(size=(80, 24)) as pilot:
        lines = await main_screen(pilot)
        footer = lines[-1]
        assert "f1 Help" in footer and "q Quit" in footer
        dashboard = "\n".join(line[32:] for line in lines[1:11])
        for whole in ("Reverse prompting", "Contact sheet", "4/4", "done", "press D to start one"):
            assert whole in dashboard, dashboard
        assert "…" not in dashboard  # said shorter, not cut
        header = next(line for line in lines if "Tag" in line and "Prompt" in line)
        prompt_at = header.index("Prompt")
        row = next(line for line in lines if "CHAR_01" in line)
        assert row[prompt_at:].startswith("cinematic photo")  # at least 15 characters of it
        assert "12 of" not in lines[1]  # (sanity: the manifest list is on its own lines)
        manifest_lines = [line[:31].rstrip() for line in lines[1:11] if line[:31].strip()]
        assert manifest_lines[0].strip() == "characters"
        assert all(line.startswith("  ") for line in manifest_lines[1:])


async def test_prompt_column_takes_the_room_the_preview_leaves_at_160(processed):
    app = make_app(processed)
    async with app.run_test(size=(160, 45)) as pilot:
        lines = await main_screen(pilot)
        header = next(line for line in lines if "Tag" in line and "Prompt" in line)
        row = next(line for line in lines if "CHAR_01" in line)
        shown = row[header.index("Prompt") :].split("…")[0]  # cut where the column ends
        assert len(shown) >= 25 and PROMPT.startswith(shown), shown


async def test_editor_at_80x24_labels_whole_prompt_visible_and_ctrl_end(processed):
    app = make_app(processed)
    async with app.run_test(size=(80, 24)) as pilot:
        await main_screen(pilot)
        await pilot.press("e")
        editor = await wait_for(
            pilot,
            lambda: type(app.screen).__name__ == "AssetEditorScreen" and app.screen,
            what="the editor",
        )
        await settle(pilot)
        text = "\n".join(screen_lines(app))
        label_line = next(line for line in screen_lines(app) if "Name" in line)
        for label in ("Name", "Type", "Tags (a, b)", "Order"):
            assert label in label_line, label_line
        assert "Reverse prompt" in text and "cinematic photo of character 1" in text
        assert "ctrl+s save" in text

        area = editor.query_one("#reverse_prompt")
        await pilot.press("ctrl+home")
        assert area.cursor_location == (0, 0)
        await pilot.press("ctrl+end")
        assert area.cursor_location == area.document.end
        await pilot.press("escape")


async def test_brackets_switch_manifests(tmp_path):
    from support.tui_support import bulk_assets

    root = make_project(tmp_path / "project", images=2)
    bulk_assets(root, 3, folder="props")
    app = make_app(root)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.main_screen
        await wait_for(pilot, lambda: screen.folder and screen.table.row_count, what="the grid")
        first = screen.folder
        await pilot.press("right_square_bracket")
        await wait_for(
            pilot,
            lambda: (
                screen.folder != first
                and screen.table.row_count == (3 if first == "characters" else 2)
            ),
            what="the next manifest",
        )
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: screen.folder == first, what="back to the first")
        assert "[ ] Manifest" in screen_lines(app)[-1]
