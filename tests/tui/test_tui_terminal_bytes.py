"""What vidpipe-tui writes to the terminal (the bytes an SSH link carries): nothing while
nothing changes, the grid rows and the asset's text on a cursor move, one line per progress
update, a picture once per image and size. Through the pilot, with every screen update rendered
to the bytes a terminal would receive; the poller's messages are driven by the test."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from support.tui_support import make_processed_project, settle, text_of, wait_for

SIZE = (160, 45)


def counting_app(root: Path, **kwargs):
    from textual._compositor import ChopsUpdate, CompositorUpdate

    from tui.app import VidpipeApp

    class CountingApp(VidpipeApp):
        """Counts the bytes of each screen update as the terminal driver would write them, and
        the cells each widget had rewritten."""

        written = 0
        repainted: Counter
        rows_of: dict

        def _start_watching(self) -> None:
            pass  # no poller thread: the test posts what it would post, when it wants

        def _display(self, screen, renderable) -> None:
            if (
                renderable is None
                or self._batch_count
                or not isinstance(renderable, CompositorUpdate)
            ):
                return
            self.written += len(renderable.render_segments(self.console).encode())
            if not isinstance(renderable, ChopsUpdate):
                self.repainted["the whole screen"] += 1
                return
            for y, x1, x2 in renderable.spans:
                x = x1
                while x < x2:
                    widget, region = screen.get_widget_at(x, y)
                    self.repainted[widget] += min(x2, region.right) - x
                    self.rows_of.setdefault(widget, set()).add(y)
                    x = max(region.right, x + 1)

        def forget(self) -> None:
            self.written, self.repainted, self.rows_of = 0, Counter(), {}

    app = CountingApp(root, watch_folder=False, keymap={}, **kwargs)
    app.forget()
    return app


def dashboard_widgets(app) -> list:
    repainted = []
    for widget in app.repainted:
        if widget == "the whole screen":
            repainted.append(widget)
            continue
        chain = [widget, *widget.ancestors]
        if any(
            getattr(w, "id", None) in ("top", "job-panel", "daemon", "manifests")
            or type(w).__name__ in ("Header", "Footer")
            for w in chain
        ):
            repainted.append(widget)
    return repainted


def beat(age: float):
    from vidpipe.ops.daemon_state import DaemonStatus

    return DaemonStatus(running=True, pid=4242, heartbeat_age_s=age, watcher="inotify")


async def ready(pilot, rows: int):
    """The grid filled, the daemon line and the dashboard shown, the first picture drawn."""
    from tui import messages as msg

    screen = pilot.app.main_screen
    await wait_for(pilot, lambda: screen.table.row_count == rows, what=f"{rows} rows")
    screen.post_message(msg.DaemonChecked(beat(0.2)))
    image = screen.query_one("#preview-image")
    await wait_for(pilot, lambda: image.image is not None, what="the first picture")
    await settle(pilot)
    return screen


@pytest.fixture
def processed(tmp_path) -> Path:
    return make_processed_project(tmp_path / "project", images=4)


async def test_idle_tui_writes_nothing_over_many_refresh_cycles(processed):
    from tui import messages as msg

    app = counting_app(processed, preview_quality="low")
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot, 4)
        app.forget()
        for cycle in range(6):  # what the poller posts: a heartbeat a second, database commits
            screen.post_message(msg.DaemonChecked(beat(0.3 + cycle * 0.9)))
            screen.post_message(msg.DatabaseChanged())
            await settle(pilot)
        assert app.written == 0, dict(app.repainted)
        assert "responding" in text_of(screen.query_one("#daemon"))


async def test_cursor_move_rewrites_two_grid_rows_and_the_asset_text_not_the_dashboard(processed):
    from tui.widgets.asset_table import AssetTable

    app = counting_app(processed, preview_quality="low")
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot, 4)
        image = screen.query_one("#preview-image")

        app.forget()
        await pilot.press("down")
        second = screen.table.current_key
        await wait_for(
            pilot,
            lambda: image.key is not None and image.key[0] == second,
            what="the second picture",
        )
        await settle(pilot)
        assert dashboard_widgets(app) == []
        ids = {getattr(w, "id", None) for w in app.repainted}
        assert ids <= {"grid", "preview-details", "preview-caption", "preview-image"}, ids
        grid = next(w for w in app.repainted if isinstance(w, AssetTable))
        # The row left, the row arrived at, and the row under the mouse pointer (DataTable
        # drops its hover highlight on a key press) when that is another row.
        assert len(app.rows_of[grid]) <= 3

        await pilot.press("i")  # preview hidden: the grid, now wider, is drawn again
        await settle(pilot)
        # Textual repaints the whole grid once more on the first move after a resize
        # (measured: ~5 KB once, see BENCHMARKS.md); the moves after it are what is paid.
        await pilot.press("down")
        await settle(pilot)
        app.forget()
        await pilot.press("down")
        await settle(pilot)
        assert list(app.repainted) == [grid] and len(app.rows_of[grid]) <= 3


async def test_progress_update_rewrites_its_stage_line_only(processed):
    from tui import messages as msg
    from vidpipe.store.models import Manifest
    from vidpipe.pipeline.runs import claim, create_run

    app = counting_app(processed, preview_quality="low")
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot, 4)
        run = create_run("process", manifest_id=Manifest.get().id)
        assert claim(run.id)
        writer = sqlite3.connect(app.project.database_path, isolation_level=None, timeout=30)
        panel = screen.query_one("#job-panel")

        async def progress(done: int):
            writer.execute(
                "UPDATE stage_progress SET status='running', done=?, total=100, "
                "current_item=? WHERE run_id=? AND stage='prompts'",
                (done, f"hero_0{done % 4}.jpg", run.id),
            )
            screen.post_message(msg.DatabaseChanged())
            await wait_for(pilot, lambda: f"{done}/100" in text_of(panel), what=f"{done}/100")
            await settle(pilot)

        await progress(1)  # the job comes into focus: its header and stage lines are drawn
        for done in (2, 3):
            app.forget()
            await progress(done)
            lines = [w for w in app.repainted if "stage-line" in w.classes]
            assert list(app.repainted) == lines and len(lines) == 1, dict(app.repainted)
            assert app.rows_of[lines[0]] == {lines[0].region.y}
        writer.close()


async def test_a_picture_is_drawn_once_and_never_sent_again_unchanged(processed):
    app = counting_app(processed, preview_quality="low")
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot, 4)
        image = screen.query_one("#preview-image")
        first, first_key = image.image, screen.table.current_key
        loads = []
        pane = screen.query_one("#preview")
        original = pane._load
        pane._load = lambda *args: (loads.append(args[0]), original(*args))

        # The picture shown, asked for again (a row update, a refresh): nothing written.
        app.forget()
        pane.show_picture_of(first_key, screen.current_row().file_path)
        await settle(pilot)
        assert image not in app.repainted

        await pilot.press("down")
        await wait_for(pilot, lambda: image.image is not first, what="the second picture")
        await pilot.press("up")
        await wait_for(pilot, lambda: image.image is first, what="the first picture again")
        assert loads == [screen.table.keys_in_order()[1]]  # the first came from the cache


async def test_moving_through_rows_draws_only_the_row_the_cursor_rests_on(processed, monkeypatch):
    import tui.widgets.preview as preview_module

    # A rest long enough that the key presses below are never mistaken for one on a loaded
    # machine; what is checked is which pictures were loaded, not how long anything took.
    monkeypatch.setattr(preview_module, "REST_S", 3.0)
    app = counting_app(processed, preview_quality="low")
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot, 4)
        image = screen.query_one("#preview-image")
        first = image.image
        loads = []
        pane = screen.query_one("#preview")
        original = pane._load
        pane._load = lambda *args: (loads.append(args[0]), original(*args))

        app.forget()
        await pilot.press("down", "down", "down")
        last_key = screen.table.keys_in_order()[3]
        assert screen.table.current_key == last_key
        await wait_for(
            pilot, lambda: image.image is not first, what="the last row's picture", timeout=30
        )
        assert loads == [last_key], "the rows passed over were neither decoded nor drawn"


def test_half_block_pictures_stay_within_their_byte_budget():
    from PIL import Image
    from rich.color import ColorSystem

    from tui.halfblock import Budget, render_cells, written_bytes
    from support.tui_support import photo_sources

    for path in photo_sources():
        photo = Image.open(path)
        for system in (ColorSystem.EIGHT_BIT, ColorSystem.TRUECOLOR):
            free = render_cells(photo, Budget((60, 16)), system)
            assert written_bytes(free, system) > 6000  # a real photograph: the budget bites
            kept = render_cells(photo, Budget((36, 12), max_bytes=6000, colors=32), system)
            assert written_bytes(kept, system) <= 6000
            assert len(kept) >= 4 and kept[0].cell_length >= 8  # still a picture


def test_preview_quality_defaults_to_low_over_ssh():
    from tui.preview_quality import default_quality

    assert default_quality(None, {"SSH_CONNECTION": "192.0.2.1 5 192.0.2.2 22"}) == "low"
    assert default_quality(None, {}) == "high"
    assert default_quality("auto", {"SSH_TTY": "/dev/pts/3"}) == "low"
    assert default_quality(None, {"SSH_CONNECTION": "x", "VIDPIPE_TUI_PREVIEW": "high"}) == "high"
    assert default_quality("off", {"VIDPIPE_TUI_PREVIEW": "high"}) == "off"
    with pytest.raises(ValueError, match="preview quality 'best'"):
        default_quality(None, {"VIDPIPE_TUI_PREVIEW": "best"})


async def test_a_row_touched_without_a_visible_change_redraws_nothing(processed):
    """The daemon bumps an asset's updated_at (a stage mark, a review flag of no shown field):
    the grid and the asset's text on screen stay as they are, nothing is written."""
    from tui import messages as msg

    app = counting_app(processed, preview_quality="low")
    async with app.run_test(size=SIZE) as pilot:
        screen = await ready(pilot, 4)
        current = int(screen.table.current_key)
        writer = sqlite3.connect(app.project.database_path, isolation_level=None, timeout=30)
        before = screen.signature
        app.forget()
        writer.execute("UPDATE asset SET updated_at='2099-01-01 00:00:00' WHERE id=?", (current,))
        writer.close()
        screen.post_message(msg.DatabaseChanged())
        await wait_for(pilot, lambda: screen.signature != before, what="the rows re-read")
        await settle(pilot)
        assert app.written == 0, dict(app.repainted)
