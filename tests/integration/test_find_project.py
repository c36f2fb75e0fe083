"""A project is found from any folder inside it (issue 22): started in a manifest folder, the
CLI and the TUI open the project above instead of advising a project nested in a manifest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.tui_support import make_project, wait_for
from vidpipe.errors import ProjectError
from vidpipe.store.project import find_project

REPO = Path(__file__).resolve().parents[2]


def test_found_from_a_manifest_folder_and_deeper(tmp_path):
    root = make_project(tmp_path / "proj", images=1)
    (root / "characters" / "deeper").mkdir()
    assert find_project(root / "characters").root == root.resolve()
    assert find_project(root / "characters" / "deeper").root == root.resolve()


def test_outside_any_project_the_advice_is_for_that_folder(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(
        ProjectError,
        match=r"is not inside a vidpipe project; run: vidpipe "
        r"init .*plain",
    ):
        find_project(tmp_path / "plain")


def test_cli_status_from_inside_a_manifest_folder(tmp_path):
    root = make_project(tmp_path / "proj", images=2)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from vidpipe.cli import main; sys.exit(main())",
            "status",
            ".",
        ],
        cwd=root / "characters",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "manifest characters: 2 asset(s)" in done.stdout
    assert "vidpipe init" not in done.stdout + done.stderr


async def test_tui_started_in_a_manifest_folder_opens_the_project(tmp_path):
    from tui.app import VidpipeApp

    root = make_project(tmp_path / "proj", images=2)
    app = VidpipeApp(root / "characters", watch_folder=False, keymap={})
    assert app.project.root == root.resolve()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.main_screen.table.row_count == 2, what="the grid")


def test_init_refuses_a_project_inside_a_project(tmp_path, capsys):
    from vidpipe.cli import main

    root = make_project(tmp_path / "proj", images=1)
    assert main(["init", str(root / "characters")]) != 0
    err = capsys.readouterr().err
    assert f"is inside the project {root.resolve()}" in err
    assert not (root / "characters" / ".vidpipe").exists()
    assert main(["init", str(root)]) == 0  # the project itself: idempotent as before
