"""End to end in a real terminal: tmux runs `vidpipe-tui` on a project served by the real daemon;
keys are sent with send-keys, the screen is read with capture-pane, the outcome checked in the
database. Synchronised by polling the screen and the database with timeouts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from functools import partial
from pathlib import Path

import pytest

from support import waiting
from support.tui_support import make_project

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

TUI = str(Path(sys.executable).parent / "vidpipe-tui")
TIMEOUT = 90


poll = partial(waiting.wait_for, timeout=TIMEOUT, interval=0.1)


class Tmux:
    """One tmux server of our own (-L), so the test never touches a user's sessions."""

    def __init__(self):
        self.socket = f"vidpipe-test-{uuid.uuid4().hex[:8]}"

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout

    def start(self, command: list[str], width: int = 180, height: int = 50) -> None:
        self(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            str(width),
            "-y",
            str(height),
            " ".join(command),
        )
        self("resize-window", "-t", "tui", "-x", str(width), "-y", str(height))

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "tui")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self("send-keys", "-t", "tui", *(["-l"] if literal else []), *keys)

    def wait_screen(self, text: str, timeout: float = TIMEOUT) -> str:
        return poll(
            lambda: text in (screen := self.screen()) and screen,
            f"{text!r} on the screen",
            timeout=timeout,
        )

    def alive(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "-L", self.socket, "has-session", "-t", "tui"], capture_output=True
            ).returncode
            == 0
        )

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        # tmux leaves the socket file of a killed server behind
        tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
        Path(tmpdir, f"tmux-{os.getuid()}", self.socket).unlink(missing_ok=True)


@pytest.fixture
def served_project(tmp_path):
    """A project with two images and its daemon running (stopped afterwards)."""
    from daemon.client import start_detached
    from vidpipe.ops.daemon_state import daemon_status
    from vidpipe.store.session import open_project

    root = make_project(tmp_path / "project", images=2)
    session = open_project(root)
    pid = start_detached(root).pid
    try:
        yield root
    finally:
        os.kill(pid, signal.SIGTERM)
        poll(lambda: not daemon_status(root).running, "the daemon to exit", timeout=60)
        session.close()


def test_edit_a_prompt_and_queue_a_reprocess_in_a_real_terminal(served_project, tmp_path):
    from vidpipe.store.edits import suggestions
    from vidpipe.store.models import Asset, Run

    root = served_project
    # $EDITOR (F4): a script standing in for a person who rewrites the whole text in vim.
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nprintf 'a knight in silver armour' > \"$1\"\n")
    editor.chmod(0o755)
    tmux = Tmux()
    try:
        # pytest exports COLUMNS/LINES; the TUI must size itself from the tmux pane instead.
        tmux.start(
            [
                "env",
                "-u",
                "COLUMNS",
                "-u",
                "LINES",
                "TERM=xterm-256color",
                f"EDITOR={editor}",
                TUI,
                str(root),
            ]
        )
        screen = tmux.wait_screen("hero_01")
        assert "characters" in screen and "hero_00" in screen
        tmux.wait_screen("daemon pid")
        # Let the daemon finish the processing it started for the two new files.
        poll(
            lambda: not Run.select().where(Run.status.in_(["queued", "running"])).exists(),
            "the initial processing",
        )

        tmux.keys("e")
        tmux.wait_screen("Edit CHAR_01  hero_00")
        tmux.keys("F4")  # the app suspends, the editor rewrites the prompt, the app resumes
        tmux.wait_screen("a knight in silver armour")
        tmux.keys(" at dawn", literal=True)  # the cursor waits at the end of the text
        tmux.wait_screen("armour at dawn")
        tmux.keys("C-s")
        hero = poll(
            lambda: (
                (a := Asset.get(Asset.name == "hero_00")).reverse_prompt
                == "a knight in silver armour at dawn"
                and a
            ),
            "the prompt saved",
        )
        screen = tmux.wait_screen("a knight in silver armour at dawn")
        assert "✎" in screen  # edited by a person

        tmux.keys("r")
        run = poll(lambda: Run.get_or_none(Run.kind == "reprocess"), "a reprocess run")
        assert run.asset_id == hero.id and run.requested_by == "tui"
        poll(lambda: Run.get_by_id(run.id).status == "done", "the daemon running the reprocess")
        tmux.wait_screen(f"#{run.id} reprocess")
        # The person's prompt stays; the new machine text waits as a suggestion (★).
        assert Asset.get_by_id(hero.id).reverse_prompt == "a knight in silver armour at dawn"
        assert [s.field for s in suggestions(hero.id)] == ["reverse_prompt"]
        tmux.wait_screen("✎★")

        tmux.keys("q")
        poll(lambda: not tmux.alive(), "the TUI to quit", timeout=30)
    finally:
        if tmux.alive():
            print(tmux.screen())
        tmux.kill()
