"""The first frame comes before the project is opened (issue 22): reading the settings
(pydantic-settings) and opening the database wait until the screen is painted, then the grid
fills. Checked in a fresh interpreter, where nothing is imported yet."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from support.tui_support import make_project

SCRIPT = textwrap.dedent("""
    import sys
    from tui.app import VidpipeApp

    class FirstPaint(VidpipeApp):
        def on_mount(self):
            self.call_after_refresh(self.painted)

        def painted(self):
            print("painted settings=%s session=%s" % (
                "vidpipe.config.settings" in sys.modules, self.session is not None))
            self.set_interval(0.05, self.grid_filled)

        def grid_filled(self):
            if self.main_screen.table.row_count == 2:
                print("grid filled settings=%s" % ("vidpipe.config.settings" in sys.modules))
                self.exit()

    FirstPaint(sys.argv[1], watch_folder=False, keymap={}).run(headless=True)
""")


def test_first_paint_comes_before_the_settings_and_the_database(tmp_path):
    root = make_project(tmp_path / "project", images=2)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "painted settings=False session=False" in done.stdout, done.stdout
    assert "grid filled settings=True" in done.stdout, done.stdout


def test_a_database_that_cannot_open_ends_the_tui_with_its_message(tmp_path):
    root = make_project(tmp_path / "project", images=1)
    (root / ".vidpipe" / "vidpipe.db").write_bytes(b"not a database" * 100)
    for extra in ("vidpipe.db-wal", "vidpipe.db-shm"):
        (root / ".vidpipe" / extra).unlink(missing_ok=True)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tui.main import main; sys.exit(main())",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "vidpipe-tui: the project database" in done.stderr
