"""Two people, two vidpipe-tui processes in real terminals (tmux), one project (issue 22): Bob
never gets Alice's unsaved text as his; when Bob saves first, Alice is told live and her save
is a conflict, not a silent replace; Alice's terminal dropping (its tmux session killed: the TUI
and her $EDITOR get SIGHUP) loses nothing, her next session offers the text back."""

from __future__ import annotations

import os
import shutil
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
poll = partial(waiting.wait_for, timeout=90, interval=0.1)


class Terminals:
    """One tmux server of our own (-L); a session per person."""

    def __init__(self):
        self.socket = f"vidpipe-writers-{uuid.uuid4().hex[:8]}"

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout

    def start(self, name: str, root: Path, user: str, editor: Path | None = None) -> None:
        env = [
            "env",
            "-u",
            "COLUMNS",
            "-u",
            "LINES",
            "TERM=xterm-256color",
            f"VIDPIPE_USER={user}",
            *([f"EDITOR={editor}"] if editor else []),
        ]
        self.tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "200",
            "-y",
            "50",
            " ".join([*env, TUI, "--no-watch", "--preview", "off", str(root)]),
        )
        self.tmux("resize-window", "-t", name, "-x", "200", "-y", "50")

    def screen(self, name: str) -> str:
        return self.tmux("capture-pane", "-p", "-t", name)

    def keys(self, name: str, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", name, *(["-l"] if literal else []), *keys)

    def wait(self, name: str, text: str) -> str:
        def shown() -> str:
            screen = self.screen(name)
            return screen if text in screen else ""

        return poll(shown, f"{text!r} on {name}'s screen")

    def drop(self, name: str) -> None:
        """What a dropped SSH connection does to the processes in it: SIGHUP."""
        self.tmux("kill-session", "-t", name)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        tmpdir = os.environ.get("TMUX_TMPDIR", "/tmp")
        Path(tmpdir, f"tmux-{os.getuid()}", self.socket).unlink(missing_ok=True)


def prompt(root: Path) -> str:
    import sqlite3

    with sqlite3.connect(root / ".vidpipe" / "vidpipe.db", timeout=30) as connection:
        return connection.execute(
            "SELECT reverse_prompt FROM asset WHERE name = 'hero_00'"
        ).fetchone()[0]


def test_two_people_drafts_conflict_and_a_dropped_terminal(tmp_path):
    root = make_project(tmp_path / "project", images=2)
    editor = tmp_path / "editor.sh"  # a person in vim: writes, then stays open
    editor.write_text("#!/bin/sh\nprintf 'written in the editor' > \"$1\"\nexec sleep 600\n")
    editor.chmod(0o755)
    terminals = Terminals()
    try:
        terminals.start("alice", root, "alice")
        terminals.wait("alice", "hero_01")
        terminals.keys("alice", "e")
        terminals.wait("alice", "Edit —  hero_00")
        terminals.keys("alice", "alice text", literal=True)
        terminals.wait("alice", "alice text")

        terminals.start("bob", root, "bob")
        terminals.wait("bob", "hero_01")
        terminals.keys("bob", "e")
        screen = terminals.wait("bob", "alice is editing this field (unsaved)")
        assert "alice text" not in screen  # never restored as Bob's
        terminals.keys("bob", "bob text", literal=True)
        terminals.wait("bob", "bob text")
        terminals.keys("bob", "C-s")
        poll(lambda: prompt(root) == "bob text", "Bob's save")

        terminals.wait("alice", "Changed meanwhile")  # told live
        terminals.keys("alice", "C-s")
        terminals.wait("alice", "Conflict")
        assert prompt(root) == "bob text"  # not replaced silently

        # Alice opens the editor again (her text is her draft) and goes to $EDITOR; her
        # connection drops while it is open.
        terminals.drop("alice")
        terminals.start("alice", root, "alice", editor)
        terminals.wait("alice", "hero_01")
        terminals.keys("alice", "e")
        terminals.wait("alice", "alice text")
        terminals.keys("alice", "F4")
        drafts = root / ".vidpipe" / "drafts"
        poll(
            lambda: any(
                p.read_text() == "written in the editor" for p in drafts.glob("editor-*.txt")
            ),
            "the editor's file written",
        )
        terminals.drop("alice")

        terminals.start("alice", root, "alice")
        terminals.wait("alice", "hero_01")
        terminals.keys("alice", "e")
        terminals.wait("alice", "written in the editor")  # offered back
        terminals.keys("alice", "C-s")
        poll(lambda: prompt(root) == "written in the editor", "Alice's text saved over Bob's")
        poll(lambda: not list(drafts.glob("editor-*.txt")), "the editor's file cleaned")
    finally:
        terminals.kill()
