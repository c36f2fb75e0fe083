"""Text from a project someone else made is data, never commands: file and folder names with
terminal escape sequences or Textual markup, the same in prompts, errors and progress rows; a
keymap or draft file with bad bytes or bad content. Real files on disk, the real TUI (pilot and a
real terminal in tmux), the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image
from rich.cells import cell_len

from support.tui_support import wait_for

# OSC 2 sets the terminal's title: if it reaches a terminal raw, the pane title says so.
OSC = "\x1b]2;PWNED\x07"
OSC_SHOWN = "\\x1b]2;PWNED\\x07"
MARKUP = "[@click=app.quit]x"
FILE_NAMES = [
    f"osc{OSC}.png",
    f"{MARKUP}.png",
    "bidi\u202egnp.exe.png",
    "clear\x1b[2J.png",
    "[bold]loud.png",
]
FOLDER = f"cast{OSC}"  # a manifest named with an escape sequence
BROKEN_MARKUP = "[/]oops [@click=app.quit]click me[/]"  # an unbalanced tag stops a markup parser


def hostile_project(root: Path) -> Path:
    """Real files with hostile names, ingested; hostile text in a run, its stage rows, an item
    error, a prompt and an edited name, as another process (the daemon, Gemini) would leave."""
    from vidpipe.pipeline.ingest import reconcile
    from vidpipe.store.models import Asset, ItemError, Run, StageProgress, utcnow
    from vidpipe.pipeline.runs import create_run
    from vidpipe.store.session import open_project

    session = open_project(root, create=True)
    try:
        folder = root / FOLDER
        folder.mkdir()
        for index, name in enumerate(FILE_NAMES):
            Image.new("RGB", (64 + index, 48), (40 * index, 90, 160)).save(folder / name, "PNG")
        summary = reconcile(session.project, session.settings)
        assert not [r for r in summary.results if r.asset.error], "hostile names must ingest"
        marked = Asset.get(Asset.file_path == f"{FOLDER}/{MARKUP}.png")
        assert marked.name == MARKUP
        osc = Asset.get(Asset.file_path == f"{FOLDER}/osc{OSC}.png")
        Asset.update(reverse_prompt=f"a prompt {OSC} with {BROKEN_MARKUP}", error=None).where(
            Asset.id == osc.id
        ).execute()
        Asset.update(name=BROKEN_MARKUP).where(
            Asset.file_path == f"{FOLDER}/[bold]loud.png"
        ).execute()
        run = create_run("process", manifest_id=marked.manifest_id)
        Run.update(
            status="running", started_at=utcnow(), error=f"boom {OSC} {BROKEN_MARKUP}"
        ).where(Run.id == run.id).execute()
        StageProgress.update(
            status="running",
            done=1,
            total=5,
            current_item=f"item{OSC}",
            message=BROKEN_MARKUP,
            started_at=utcnow(),
        ).where(StageProgress.run == run.id, StageProgress.stage == "detection").execute()
        ItemError.create(
            run=run.id, stage="detection", asset=osc.id, message=f"failed {OSC} {BROKEN_MARKUP}"
        )
    finally:
        session.close()
    return root


@pytest.fixture
def project(tmp_path) -> Path:
    return hostile_project(tmp_path / "project")


def screen_output(app) -> tuple[str, list[str], set[str]]:
    """What the app would write to the terminal for a full repaint (the same renderer its
    display uses), the plain text of each line, and every click action on the screen."""
    from textual.strip import Strip

    update = app.screen._compositor.render_update(full=True)
    lines, actions = [], set()
    for chops in update.strips:  # each line: the strips of the widgets side by side on it
        strip = Strip.join(list(chops))
        lines.append(strip.text)
        for segment in strip:
            meta = segment.style.meta if segment.style else {}
            if "@click" in meta:
                actions.add(str(meta["@click"]))
    return update.render_segments(app.console), lines, actions


def assert_shown_not_obeyed(app) -> list[str]:
    raw, lines, actions = screen_output(app)
    assert "\x1b]" not in raw and "\x07" not in raw and "\x1b[2J" not in raw, (
        "a control sequence from the project reached the terminal"
    )
    assert "\u202e" not in raw
    assert not [a for a in actions if "quit" in a], f"project text became an action: {actions}"
    return lines


def position_of(lines: list[str], text: str) -> tuple[int, int] | None:
    for y, line in enumerate(lines):
        if text in line:
            return cell_len(line[: line.index(text)]), y
    return None


async def test_hostile_names_show_literally_everywhere_and_do_nothing(project):
    from tui.app import VidpipeApp

    app = VidpipeApp(project, keymap={}, watch_folder=False)
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        screen = app.main_screen
        await wait_for(pilot, lambda: screen.table.row_count == len(FILE_NAMES), what="the rows")
        await wait_for(
            pilot,
            lambda: "boom \\x1b]2;PWNED" in "\n".join(screen_output(app)[1]),
            what="the run's error on the dashboard",
        )
        lines = assert_shown_not_obeyed(app)
        text = "\n".join(lines)
        assert MARKUP in text  # the grid shows the name as it is
        assert "osc\\x1b]2;PWNED\\x07" in text and "cast\\x1b]2;PWNED\\x07" in text
        assert "[/]oops" in text  # a broken tag is shown, not parsed (it would raise)
        assert "\\u202e" in text

        # Clicking the name must not run the action its text spells.
        x, y = position_of(lines, MARKUP)
        await pilot.click(offset=(x + 2, y))
        await pilot.pause()
        assert app.is_running and app.return_code is None

        # Every row through the preview (prompt, errors, file path).
        for row in range(len(FILE_NAMES)):
            screen.table.move_cursor(row=row)
            await pilot.pause()
            assert_shown_not_obeyed(app)
        key = next(k for k, r in screen.rows.items() if "osc" in r.file_path)
        screen.table.move_to(key)
        await wait_for(
            pilot,
            lambda: "a prompt \\x1b]2;PWNED" in "\n".join(screen_output(app)[1]),
            what="the hostile prompt in the preview",
        )
        assert_shown_not_obeyed(app)

        # The editor: its title and fields show the text; saving another field leaves it alone.
        await pilot.press("e")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "AssetEditorScreen", what="the editor"
        )
        await pilot.pause()
        assert "Edit " in "\n".join(assert_shown_not_obeyed(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="the editor closed")

        # The job's errors, the cancel question, the help screen.
        await pilot.press("E")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "ErrorsScreen", what="the errors screen"
        )
        await pilot.pause()
        assert "failed \\x1b]2;PWNED" in "\n".join(assert_shown_not_obeyed(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen, what="errors closed")
        await pilot.press("c")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "ChoiceScreen", what="the cancel question"
        )
        await pilot.pause()
        assert "cast\\x1b]2;PWNED" in "\n".join(assert_shown_not_obeyed(app))
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="question answered")

        # A notification quoting a project name.
        app.notify(f"about {MARKUP} and {OSC}", title=f"title {OSC}")
        await pilot.pause()
        lines = assert_shown_not_obeyed(app)
        assert position_of(lines, f"about {MARKUP}") is not None
        assert app.is_running


def notifications(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def test_untracked_hostile_file_in_a_notification(project):
    from tui.app import VidpipeApp

    (project / FOLDER / f"new{OSC}{MARKUP}.png").write_bytes(b"not yet ingested")
    app = VidpipeApp(project, keymap={}, watch_folder=False)
    async with app.run_test(size=(200, 50), notifications=True) as pilot:
        screen = app.main_screen
        await wait_for(
            pilot,
            lambda: screen.table.row_count == len(FILE_NAMES) + 1,
            what="the untracked file in the grid",
        )
        screen.table.move_to(next(k for k in screen.table.keys_in_order() if k.startswith("file:")))
        await pilot.press("e")  # "... is not ingested yet" quotes the path
        await wait_for(
            pilot,
            lambda: any("not ingested yet" in n for n in notifications(app)),
            what="the notification",
        )
        await pilot.pause()
        assert f"new{OSC_SHOWN}{MARKUP}.png" in "\n".join(assert_shown_not_obeyed(app))


# -- keymap and drafts ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe[keymap]\n", "not UTF-8 text"),
        (b"[keymap\n", "not valid TOML"),
        (b"keymap = 3\n", "[keymap] must be a table"),
        (
            b'[keymap]\n"grid.reprocess" = "R"\n"app.quit" = "[@click=app.quit]"\n"x.y" = 3\n',
            "ignored app.quit, x.y",
        ),
        (b"[keymap]\n" + b"a = [" * 5000, "not valid TOML"),
        ("fifo", "not a regular file"),
    ],
)
async def test_a_broken_keymap_is_a_message_and_the_tui_starts(
    tmp_path, monkeypatch, content, message
):
    from tui.app import VidpipeApp
    from support.tui_support import make_project

    root = make_project(tmp_path / "project", images=1)
    keymap = tmp_path / "keymap.toml"
    if content == "fifo":
        os.mkfifo(keymap)  # reading it would block the TUI for ever
    else:
        keymap.write_bytes(content)
    monkeypatch.setenv("VIDPIPE_TUI_KEYMAP", str(keymap))
    app = VidpipeApp(root, watch_folder=False)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.main_screen.table.row_count == 1, what="the grid")
        await wait_for(
            pilot,
            lambda: any(message in n for n in notifications(app)),
            what=f"the keymap message {message!r}",
        )
        if b"grid.reprocess" in (content if isinstance(content, bytes) else b""):
            assert app._keymap.get("grid.reprocess") == "R"  # the usable entry still applies
        assert_shown_not_obeyed(app)
        assert app.is_running


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (b'{"asset_id": 1, "fields": {"name": "x"', "not valid JSON"),
        (b"[1, 2]", "not a draft"),
        (b'{"asset_id": 2, "fields": {"name": "x"}}', "not a draft of asset 1"),
        (b'{"asset_id": 1, "fields": {"content_hash": "x"}}', "not an editable field"),
        (b'{"asset_id": 1, "fields": {"asset_type": "DRAGON"}}', "unknown asset type"),
        (b'{"asset_id": 1, "fields": {"name": 3}}', '"fields".name is not text'),
        (b"[" * 100000, "not valid JSON"),
        ("fifo", "not a regular file"),
        ("symlink", "symlink; not followed"),
    ],
)
async def test_a_broken_draft_is_a_message_and_the_editor_still_opens(tmp_path, content, message):
    from tui.app import VidpipeApp
    from support.tui_support import make_project

    root = make_project(tmp_path / "project", images=1)
    drafts = root / ".vidpipe" / "drafts"
    drafts.mkdir(parents=True, exist_ok=True)
    path = drafts / "asset-1.json"
    if content == "fifo":
        os.mkfifo(path)
    elif content == "symlink":
        secret = tmp_path / "secret.json"
        secret.write_text('{"asset_id": 1, "fields": {"reverse_prompt": "stolen"}}')
        path.symlink_to(secret)
    else:
        path.write_bytes(content)
    app = VidpipeApp(root, keymap={}, watch_folder=False)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.main_screen.table.row_count == 1, what="the grid")
        await wait_for(
            pilot,
            lambda: any(message in n and "asset-1.json" in n for n in notifications(app)),
            what=f"the draft message {message!r}",
        )
        assert (drafts / "asset-1.json.invalid").exists() or (
            drafts / "asset-1.json.invalid"
        ).is_symlink()  # kept, no longer offered
        await pilot.press("e")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "AssetEditorScreen", what="the editor"
        )
        assert app.screen.restored is None
        assert "stolen" not in "\n".join(screen_output(app)[1])
        assert app.is_running


async def test_a_restored_draft_with_escapes_is_shown_not_sent(tmp_path):
    from tui.app import VidpipeApp
    from support.tui_support import make_project

    root = make_project(tmp_path / "project", images=1)
    drafts = root / ".vidpipe" / "drafts"
    drafts.mkdir(parents=True, exist_ok=True)
    (drafts / "asset-1.json").write_text(
        json.dumps(
            {
                "asset_id": 1,
                "fields": {"name": f"n{OSC}", "reverse_prompt": f"p{OSC}\nline 2"},
                "baseline": {"name": "hero_00"},
            }
        )
    )
    app = VidpipeApp(root, keymap={}, watch_folder=False)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.main_screen.table.row_count == 1, what="the grid")
        await pilot.press("e")
        await wait_for(
            pilot, lambda: type(app.screen).__name__ == "AssetEditorScreen", what="the editor"
        )
        await pilot.pause()
        text = "\n".join(assert_shown_not_obeyed(app))
        assert f"n{OSC_SHOWN}" in text and f"p{OSC_SHOWN}" in text


# -- the command line -----------------------------------------------------------------------------
def test_cli_output_shows_names_and_does_not_send_their_escapes(project, tmp_path, capsys):
    from vidpipe.cli import main

    sources = [tmp_path / f"add{OSC}.png", tmp_path / "bidi\u202egnp.exe.png"]
    for index, source in enumerate(sources):
        Image.new("RGB", (40, 30), (1, 2, index)).save(source, "PNG")
    assert main(["add", str(project), *map(str, sources), "-m", "more"]) == 0
    assert main(["status", str(project)]) == 0
    assert main(["edit", str(project), f"{FOLDER}/{MARKUP}.png", "description", "ok"]) == 0
    assert main(["reprocess", str(project), f"nothing{OSC}"]) == 2
    captured = capsys.readouterr()
    for stream in (captured.out, captured.err):
        assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
    assert f"more/add{OSC_SHOWN}.png" in captured.out
    assert f"cast{OSC_SHOWN}" in captured.out and "more/bidi\\u202egnp" in captured.out
    assert f"boom {OSC_SHOWN}" in captured.out  # the run's error in status
    assert f"no asset 'nothing{OSC_SHOWN}'" in captured.err
    assert main(["status", str(project), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)  # JSON escapes them itself, and stays exact
    assert any(m["name"] == FOLDER for m in data["manifests"])


def test_progress_bars_show_names_as_text(monkeypatch):
    import io

    from vidpipe.cli.process_cmds import _ProgressView
    from vidpipe.cli.terminal import printable_output

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    with printable_output():
        view = _ProgressView()
        assert view.bars is not None
        with view:
            view.begin_manifest(FOLDER + BROKEN_MARKUP)
            view.update(
                type(
                    "Row",
                    (),
                    dict(
                        run_id=1,
                        stage="detection",
                        status="running",
                        done=1,
                        total=3,
                        current_item=f"f{OSC}{MARKUP}",
                        message=None,
                    ),
                )()
            )
    out = terminal.getvalue()
    assert "\x1b]" not in out and "\x07" not in out
    assert "cast\\x1b]2;PWNED\\x07[/]oops" in out


# -- a real terminal ------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_real_terminal_never_receives_the_names_escapes(project):
    socket = f"vidpipe-hostile-{uuid.uuid4().hex[:8]}"
    tui = str(Path(sys.executable).parent / "vidpipe-tui")

    def tmux(*args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=30, check=True
        ).stdout

    def wait(predicate, what: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}:\n"
            + tmux("capture-pane", "-p", "-t", "tui")
        )

    def title() -> str:
        return tmux("display-message", "-p", "-t", "tui", "#{pane_title}").strip()

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", "tui")

    try:
        # A plain shell first, its pane titled by us; then the TUI in it: any title change
        # after this can only come from what the TUI wrote to the terminal.
        tmux("-f", "/dev/null", "new-session", "-d", "-s", "tui", "-x", "200", "-y", "50", "sh")
        tmux("select-pane", "-t", "tui", "-T", "clean-title")
        tmux(
            "send-keys",
            "-t",
            "tui",
            "-l",
            f"exec env -u COLUMNS -u LINES TERM=xterm-256color {tui} --no-watch {project}",
        )
        tmux("send-keys", "-t", "tui", "Enter")
        wait(lambda: MARKUP in screen(), "the grid with the hostile names")
        wait(lambda: "PWNED" in screen(), "the dashboard and names")
        tmux("send-keys", "-t", "tui", "e")
        wait(lambda: "Edit —" in screen(), "the editor")
        tmux("send-keys", "-t", "tui", "Escape")
        wait(lambda: "Edit —" not in screen(), "the editor to close")
        tmux("send-keys", "-t", "tui", "E")
        wait(lambda: "failed \\x1b]2;PWNED" in screen(), "the errors screen")
        tmux("send-keys", "-t", "tui", "Escape")
        wait(lambda: "go to the asset" not in screen(), "the errors screen to close")
        # (tmux takes the Kitty graphics probe's APC string as a title too: only look for ours)
        assert "PWNED" not in title(), "an escape sequence from a name retitled the terminal"
        assert "osc\\x1b]2;PWNED\\x07" in screen()
        tmux("send-keys", "-t", "tui", "q")
        wait(
            lambda: (
                subprocess.run(
                    ["tmux", "-L", socket, "has-session", "-t", "tui"], capture_output=True
                ).returncode
                != 0
            ),
            "the TUI to quit",
        )
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
        Path(os.environ.get("TMUX_TMPDIR", "/tmp"), f"tmux-{os.getuid()}", socket).unlink(
            missing_ok=True
        )
