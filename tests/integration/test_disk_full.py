"""The project's disk fills up during a run (SQLite, one box), on a real tmpfs the test mounts
(root only; skipped elsewhere, saying why): the run stops with one clear message, the database
passes its integrity check, nothing ingested is lost, and the next run finishes once space is
back."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PIL import Image
from support import REPO

CLI = [
    sys.executable,
    "-c",
    "import sys; from vidpipe.cli import main; sys.exit(main(sys.argv[1:]))",
]


@pytest.fixture
def small_disk():
    """A 30 MB tmpfs of the test's own."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where = Path(tempfile.mkdtemp(prefix="vidpipe-small-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)
    where.rmdir()


def vidpipe(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIDPIPE_DETECTOR": "support.pixel_detector:PixelDetector"}
    return subprocess.run(
        [*CLI, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def fill(disk: Path, leave: int) -> Path:
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    filler.write_bytes(b"\0" * max(0, free - leave))
    return filler


def runs_and_assets(root: Path) -> tuple[list[tuple], list[tuple]]:
    with sqlite3.connect(root / ".vidpipe" / "vidpipe.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        runs = connection.execute("SELECT id, status, error FROM run ORDER BY id").fetchall()
        assets = connection.execute(
            "SELECT file_path, content_hash, state FROM asset "
            "WHERE source = 'uploaded' ORDER BY file_path"
        ).fetchall()
    return runs, assets


def test_a_disk_filling_up_mid_run_stops_it_cleanly_and_the_next_run_finishes(small_disk, tmp_path):
    root = small_disk / "proj"
    assert vidpipe("init", str(root)).returncode == 0
    images = []
    for index in range(4):
        path = tmp_path / f"img{index}.jpg"
        Image.new("RGB", (800, 600), (index * 50, 100, 200 - index * 40)).save(path, quality=95)
        images.append(str(path))
    assert vidpipe("add", str(root), *images).returncode == 0
    _, ingested = runs_and_assets(root)

    filler = fill(small_disk, leave=150_000)  # a contact sheet page and a little database
    stopped = vidpipe("process", str(root))
    assert stopped.returncode != 0
    assert "the disk holding the project is full" in stopped.stderr, stopped.stderr
    assert "Traceback" not in stopped.stderr
    runs, assets = runs_and_assets(root)
    assert [(path, digest) for path, digest, _ in assets] == [
        (path, digest) for path, digest, _ in ingested
    ], "nothing ingested was lost"
    first_status, first_error = runs[0][1], runs[0][2] or ""
    # INTERRUPTED with the reason when the database could still take that one write; when even
    # that could not be written, the run is left RUNNING under the process that ended (a
    # daemon's start-up takes it back).
    assert first_status in ("interrupted", "running")
    if first_status == "interrupted":
        assert "disk holding the project is full" in first_error

    filler.unlink()
    finished = vidpipe("process", str(root))
    assert finished.returncode == 0, finished.stderr
    runs, assets = runs_and_assets(root)
    assert runs[-1][1] == "done"
    assert {state for _, _, state in assets} == {"processed"}
