"""Two people, two vidpipe-tui sessions on two machines (two processes, two mounts of the project
folder, one PostgreSQL server), editing the same field of the same asset by keyboard."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import waiting
from support.tui_support import make_project

DRIVER = Path(__file__).resolve().parents[1] / "support" / "tui_session_driver.py"
REPO = Path(__file__).resolve().parents[2]
ANSWER_WAIT_S = 120.0


class TuiSession:
    """A tui_session_driver.py process: send a command, wait (with a deadline) for its answer."""

    def __init__(self, project: Path, env: dict):
        self.process = subprocess.Popen(
            [sys.executable, str(DRIVER), str(project)],
            cwd=REPO,
            text=True,
            env={**os.environ, **env, "PYTHONPATH": str(REPO)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.answer().get("ready")

    def answer(self) -> dict:
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + ANSWER_WAIT_S
        while time.monotonic() < deadline:
            if selector.select(timeout=1.0):
                line = self.process.stdout.readline()
                if line:
                    return json.loads(line)
            if self.process.poll() is not None:
                break
        self.process.kill()
        raise AssertionError(f"no answer from the TUI session: {self.process.stderr.read()}")

    def do(self, what: str, **args) -> dict:
        self.process.stdin.write(json.dumps({"do": what, **args}) + "\n")
        self.process.stdin.flush()
        answer = self.answer()
        assert answer["ok"], answer["error"]
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.do("quit")
                self.process.wait(timeout=30)
            except (AssertionError, OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


@pytest.fixture
def two_mounts(tmp_path, postgres_url, monkeypatch):
    """One project on PostgreSQL, its folder seen by two machines at two different paths."""
    monkeypatch.setenv("VIDPIPE_DATABASE_URL", postgres_url)
    first = make_project(tmp_path / "box-a" / "proj", images=2)
    second = tmp_path / "box-b" / "mnt" / "proj"
    shutil.copytree(first, second)
    return first, second


def test_two_tui_sessions_edit_one_asset_both_edits_kept(two_mounts, postgres_url):
    from vidpipe.store.database import open_database
    from vidpipe.store.edits import history
    from vidpipe.store.models import Asset, Author

    env = {"VIDPIPE_DATABASE_URL": postgres_url}
    alice = TuiSession(two_mounts[0], env)
    bob = TuiSession(two_mounts[1], env)
    try:
        # Both open the editor on the same asset before either saves.
        opened_a, opened_b = alice.do("open_editor"), bob.do("open_editor")
        assert opened_a["asset_id"] == opened_b["asset_id"]
        assert "Postgres" in opened_a["database"] and "Postgres" in opened_b["database"]
        asset_id = opened_a["asset_id"]

        assert alice.do("type_and_save", text="alice wrote this")["stored"] == "alice wrote this"
        # Bob's grid, behind his open editor, shows Alice's edit without him doing anything.
        bob.do("see", text="alice wrote this")
        # Bob opened the field before Alice saved it: his save is refused and he is told who
        # saved it; his text stays his draft.
        refused = bob.do("type_and_save", text="bob wrote that")
        assert refused["stored"] == "alice wrote this"
        assert any(
            "changed after you opened it" in note and "by" in note for note in refused["notes"]
        ), refused["notes"]
        # He looks again (his draft is restored) and saves it: now it replaces hers.
        bob.do("open_editor")
        assert bob.do("type_and_save", text="")["stored"] == "bob wrote that"
        alice.do("see", text="bob wrote that")
    finally:
        alice.close()
        bob.close()

    database = open_database(postgres_url)
    try:
        edits = [
            (e.old_value, e.new_value, e.author, e.applied, e.undone)
            for e in history(asset_id, "reverse_prompt")
        ]
        assert edits == [
            ("", "alice wrote this", Author.USER, True, False),
            ("alice wrote this", "bob wrote that", Author.USER, True, False),
        ]
        assert Asset.get_by_id(asset_id).reverse_prompt == "bob wrote that"
    finally:
        database.close()


async def test_daemon_bar_lists_the_daemons_of_a_shared_queue(
    tmp_path, postgres_url, redis_url, monkeypatch
):
    """With a Redis queue the daemons hold no project lock: the bar names those heartbeating in
    the database, and one that stopped beating without saying goodbye."""
    from datetime import timedelta

    from support.tui_support import SIZE, make_app
    from support.tui_support import text_of, wait_for
    from vidpipe.ops import daemon_registry
    from vidpipe.cli import main
    from vidpipe.store.models import KeyValue, utcnow

    env = {"VIDPIPE_DATABASE_URL": postgres_url, "VIDPIPE_QUEUE_URL": redis_url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    root = tmp_path / "proj"
    assert main(["init", str(root)]) == 0
    app = make_app(root)
    daemons = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            bar = app.main_screen.query_one("#daemon")
            await wait_for(
                pilot, lambda: "no daemon serves this project" in text_of(bar), what="no daemon yet"
            )
            # What a daemon killed on another box leaves: its row, no longer rewritten.
            daemon_registry.beat("otherbox:4242", "2026-11-24T09:00:00+00:00", 7, {})
            KeyValue.update(updated_at=utcnow() - timedelta(minutes=5)).where(
                KeyValue.key == "daemon:otherbox:4242"
            ).execute()
            await wait_for(
                pilot,
                lambda: "NOT RESPONDING: otherbox:4242" in text_of(bar),
                what="the silent daemon named",
            )

            daemons = [
                subprocess.Popen(
                    [sys.executable, "-m", "daemon.main", str(root)],
                    cwd=REPO,
                    env={**os.environ, **env},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(2)
            ]
            text = await wait_for(
                pilot,
                lambda: "2 daemons running" in text_of(bar) and text_of(bar),
                timeout=180,
                what="two daemons on the bar",
            )
            for daemon in daemons:
                assert f":{daemon.pid} idle" in text
            assert "NOT RESPONDING: otherbox:4242" in text

            daemons[0].send_signal(signal.SIGTERM)  # a clean stop: not "not responding"
            assert daemons[0].wait(timeout=60) == 0
            text = await wait_for(
                pilot,
                lambda: "1 daemon running" in text_of(bar) and text_of(bar),
                timeout=60,
                what="one daemon left",
            )
            assert f":{daemons[1].pid} idle" in text and f":{daemons[0].pid}" not in text
            await pilot.press("D")
            await wait_for(
                pilot,
                lambda: any("already serve this project" in n.message for n in app._notifications),
                what="D refusing",
            )
    finally:
        waiting.stop_processes(daemons)
