"""No name in a project folder can make vidpipe write outside it: symlinks and hard links planted
at the names vidpipe writes (and at the temporary names it used to write first) point at a file
outside the project, which must be unchanged after every kind of write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from vidpipe.pipeline.contact_sheet import Layout, SheetEntry, write_pages
from vidpipe.ops.daemon_state import heartbeat_path, write_heartbeat
from vidpipe.errors import ProjectError
from vidpipe.review.export import write_export
from vidpipe.pipeline.extracted import write_crop
from vidpipe.store.project import init_project
from vidpipe.store.safe_io import LogFileHandler, UnsafePath, write_atomic
from vidpipe.store.session import open_project

REPO = Path(__file__).resolve().parents[2]
VIDPIPE = str(Path(sys.executable).parent / "vidpipe")
SECRET = b"the victim's file: must never change\n"


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "outside" / "victim.txt"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def plant(link: Path, target: Path) -> Path:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, link)
    return link


def assert_untouched(victim: Path) -> None:
    assert victim.read_bytes() == SECRET
    assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]


def test_export_replaces_planted_links_never_writes_through(session, victim):
    exports = session.project.exports_dir
    plant(exports / ".manifest.json.tmp", victim)  # the temp name vidpipe once used
    plant(exports / "manifest.json", victim)
    path = write_export(session.project)
    assert not path.is_symlink() and json.loads(path.read_text())["manifests"] == []
    hard = exports / "hard.json"
    os.link(victim, hard)  # same file system: a hard link to the victim
    write_export(session.project, hard)
    assert json.loads(hard.read_text())["manifests"] == []
    assert_untouched(victim)


def test_heartbeat_drafts_contact_sheets_and_crops(session, victim, tmp_path):
    project = session.project
    plant(heartbeat_path(project), victim)
    plant(
        heartbeat_path(project).with_name(f".{heartbeat_path(project).name}.{os.getpid()}.tmp"),
        victim,
    )
    write_heartbeat(project, {"pid": os.getpid()})
    assert json.loads(heartbeat_path(project).read_text())["pid"] == os.getpid()

    from tui.drafts import Draft, DraftStore

    drafts = DraftStore(project)
    plant(drafts.folder / "asset-7.json", victim)
    plant(drafts.folder / ".asset-7.json.tmp", victim)
    drafts.save(Draft(7, {"name": "typed"}, {"name": "before"}))
    assert drafts.load(7).fields == {"name": "typed"}

    image = tmp_path / "a.png"
    Image.new("RGB", (64, 48), (9, 99, 199)).save(image)
    sheets = project.contact_sheets_dir
    plant(sheets / "001-x-p01.jpg", victim)
    plant(sheets / ".001-x-p01.jpg.tmp", victim)
    pages = list(
        write_pages(
            [SheetEntry(1, "a", "OBJECT", image)],
            Layout(4, 64, 60, 4),
            "x",
            sheets,
            "001-x",
            10**8,
            within=project.state_dir,
            images_within=None,
        )
    )
    assert pages == [sheets / "001-x-p01.jpg"] and not pages[0].is_symlink()

    crop = project.crops_dir / "abc-det-person.jpg"
    plant(crop, victim)
    write_crop(Image.open(image), (0, 0, 10, 10), crop, within=project.state_dir)
    assert Image.open(crop).size == (10, 10)
    assert_untouched(victim)


def test_state_folder_replaced_by_a_symlink_is_refused(session, victim, tmp_path):
    project = session.project
    outside = victim.parent
    crops = project.crops_dir
    os.rename(crops, tmp_path / "old-crops")
    plant(crops, outside)
    with pytest.raises(UnsafePath):
        write_crop(
            Image.new("RGB", (20, 20)), (0, 0, 5, 5), crops / "x-det.jpg", within=project.state_dir
        )
    with pytest.raises(UnsafePath):
        write_atomic(crops / "y.json", "{}", within=project.state_dir)
    with pytest.raises(ProjectError, match="crops .* is a symlink"):
        project.ensure_dirs()
    assert_untouched(victim)


def test_init_never_writes_through_dangling_links(tmp_path):
    root = tmp_path / "project"
    created = tmp_path / "created-by-vidpipe"
    plant(root / "vidpipe.toml", created)
    plant(root / ".vidpipe" / ".gitignore", tmp_path / "also-created")
    init_project(root)
    assert not created.exists() and not (tmp_path / "also-created").exists()


def test_log_lock_and_database_links_are_refused(session, victim):
    project = session.project
    session.close()
    plant(project.logs_dir / "daemon.log", victim)
    with pytest.raises(UnsafePath, match="symlink"):
        LogFileHandler(project.logs_dir / "daemon.log")
    # The real daemon: its lock file is a symlink to the victim.
    plant(project.state_dir / "daemon.lock", victim)
    os.unlink(project.logs_dir / "daemon.log")
    out = subprocess.run(
        [sys.executable, "-m", "daemon.main", str(project.root), "--no-watch"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "daemon lock file" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    # SQLite follows symlinks: one planted as the database's WAL file is refused.
    os.unlink(project.state_dir / "daemon.lock")
    plant(Path(f"{project.database_path}-wal"), victim)
    with pytest.raises(ProjectError, match="vidpipe.db-wal is a symlink"):
        open_project(project.root)
    status = subprocess.run(
        [VIDPIPE, "status", str(project.root)], capture_output=True, text=True, timeout=120
    )
    assert (
        status.returncode == 2 and "symlink" in status.stderr and "Traceback" not in status.stderr
    )
    assert_untouched(victim)


def test_add_with_a_link_at_the_old_copy_name(session, victim, tmp_path):
    image = tmp_path / "in" / "photo.jpg"
    image.parent.mkdir()
    Image.new("RGB", (80, 60), (200, 10, 10)).save(image)
    plant(session.project.root / ".photo.jpg.vidpipe-copy", victim)
    out = subprocess.run(
        [VIDPIPE, "add", str(session.project.root), str(image)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (session.project.root / "photo.jpg").read_bytes() == image.read_bytes()
    assert_untouched(victim)


def test_state_files_that_are_fifos_or_huge_are_not_read(session):
    """Read by the TUI every second: a FIFO must not block it, a huge file must not fill memory."""
    from tui.drafts import DraftError, DraftStore
    from vidpipe.ops.daemon_state import daemon_status, lock_path, read_heartbeat, read_lock_info

    project = session.project
    drafts = DraftStore(project)
    drafts.folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(drafts.folder / "asset-3.json")
    os.mkfifo(heartbeat_path(project))
    os.mkfifo(lock_path(project))
    with open(drafts.folder / "asset-4.json", "wb") as huge:
        huge.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of zeros
    # Neither is read: each is a message (and set aside), not a hang or 64 MiB in memory.
    with pytest.raises(DraftError, match="not a regular file"):
        drafts.load(3)
    with pytest.raises(DraftError, match="larger than"):
        drafts.load(4)
    assert read_heartbeat(project) is None and read_lock_info(project) == {}
    assert not daemon_status(project.root).running
