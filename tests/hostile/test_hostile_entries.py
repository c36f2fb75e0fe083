"""Folder entries that are not plain image files, on disk for real: a name that is not UTF-8, a
symlink loop, a FIFO, a socket, a device, a folder named like an image, a dangling symlink, a
manifest folder that is a symlink to outside, a 250-character name. Scanning classifies each
without blocking and goes on; nothing is read or written outside the project; the daemon's
watcher keeps paths it could not ingest and reports a failed start-up scan in its heartbeat."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from PIL import Image

from support.waiting import wait_for
from vidpipe.store.models import Asset, AssetState

VIDPIPE = str(Path(sys.executable).parent / "vidpipe")
TIMEOUT = 60


def image(path: Path, color=(30, 140, 60)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (72, 48), color).save(path)
    return path


def hostile_folder(root: Path, outside: Path) -> dict[str, object]:
    """Plant every kind of hostile entry under ``root``; returns what was planted."""
    image(root / "good.jpg")
    long_name = "L" * 246 + ".jpg"  # 250 characters
    image(root / long_name, (1, 2, 3))
    with open(os.path.join(os.fsencode(root), b"bad-\xff\xfe.jpg"), "wb") as handle:
        handle.write((root / "good.jpg").read_bytes())
    os.symlink("loop.jpg", root / "loop.jpg")
    os.symlink(root / "ping.jpg", root / "pong.jpg")
    os.symlink(root / "pong.jpg", root / "ping.jpg")
    os.mkfifo(root / "fifo.jpg")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(root / "socket.jpg"))
    (root / "folder.jpg").mkdir()
    os.symlink(root / "missing.jpg", root / "dangling.jpg")
    os.symlink("/dev/zero", root / "zero.jpg")
    planted = {"socket": sock, "long": long_name, "device": False}
    try:
        os.mknod(root / "null.jpg", stat.S_IFCHR | 0o600, os.makedev(1, 3))
        planted["device"] = True
    except OSError:  # not permitted in this container: the symlink to /dev/zero stands in
        pass
    image(outside / "secret.jpg", (250, 0, 0))
    os.symlink(outside, root / "characters")  # a manifest folder leading outside
    os.symlink(root / ".vidpipe" / "vidpipe.db", root / "db.jpg")
    return planted


def test_scan_classifies_every_hostile_entry_and_goes_on(session, tmp_path):
    root = session.project.root
    outside = tmp_path / "outside"
    planted = hostile_folder(root, outside)
    before = sorted(os.listdir(outside))
    session.close()
    try:
        out = subprocess.run(
            [VIDPIPE, "scan", str(root)], capture_output=True, text=True, timeout=120
        )  # a FIFO opened for reading would hang here
    finally:
        planted["socket"].close()
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    session.database.connect(reuse_if_open=True)
    states = {a.file_path: (a.state, a.error) for a in Asset.select()}
    assert states["good.jpg"] == (AssetState.PENDING, None)
    assert states[planted["long"]] == (AssetState.PENDING, None)
    errors = {path: error for path, (state, error) in states.items() if state == AssetState.ERROR}
    assert "loop" in errors["loop.jpg"] and "loop" in errors["ping.jpg"]
    assert "FIFO" in errors["fifo.jpg"] and "socket" in errors["socket.jpg"]
    assert "folder.jpg" not in states  # a folder with an image's name is just a folder
    assert "missing" in errors["dangling.jpg"]
    assert "outside the project" in errors["zero.jpg"]
    assert ".vidpipe" in errors["db.jpg"]
    if planted["device"]:
        assert "device" in errors["null.jpg"]
    assert not any(path.startswith("characters/") for path in states)
    assert "skipped  bad-\\xff\\xfe.jpg: file name is not valid UTF-8" in out.stdout
    assert "skipped  characters: symlinked folder; not followed" in out.stdout
    assert sorted(os.listdir(outside)) == before


def test_add_refuses_a_manifest_folder_that_leads_outside(session, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, session.project.root / "props")
    source = image(tmp_path / "in" / "cup.jpg")
    out = subprocess.run(
        [VIDPIPE, "add", str(session.project.root), str(source), "-m", "props"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "not a folder inside the project" in out.stderr
    assert os.listdir(outside) == []
    os.mkfifo(tmp_path / "in" / "pipe.jpg")
    out = subprocess.run(
        [VIDPIPE, "add", str(session.project.root), str(tmp_path / "in" / "pipe.jpg")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "FIFO" in out.stderr and "Traceback" not in out.stderr


def test_watcher_keeps_paths_while_ingest_fails_and_picks_them_up_after(session):
    from daemon.watcher import FolderIngester

    root = session.project.root
    watcher = FolderIngester(session.project, session.settings, queue_jobs=False, retry_s=0.2)
    watcher.start()
    try:
        assert watcher.ready.wait(TIMEOUT)
        # Break ingest for real: the asset table is gone for a while.
        with sqlite3.connect(session.project.database_path) as raw:
            raw.execute("ALTER TABLE asset RENAME TO asset_away")
        image(root / "dropped.jpg")
        os.mkfifo(root / "dropped-fifo.jpg")
        wait_for(
            lambda: watcher.problem and "ingest" in watcher.problem,
            what="the failed ingest reported",
        )
        with sqlite3.connect(session.project.database_path) as raw:
            raw.execute("ALTER TABLE asset_away RENAME TO asset")
        wait_for(
            lambda: Asset.get_or_none(Asset.file_path == "dropped.jpg"),
            what="the kept path ingested on a retry",
        )
        fifo = wait_for(
            lambda: Asset.get_or_none(Asset.file_path == "dropped-fifo.jpg"),
            what="the FIFO classified",
        )
        assert fifo.state == AssetState.ERROR and "FIFO" in fifo.error
        wait_for(lambda: watcher.problem is None, what="the problem cleared")
    finally:
        watcher.stop()


def test_daemon_on_a_hostile_folder_keeps_working_and_reports_a_failed_startup_scan(
    session, tmp_path
):
    from support.daemons import start_daemon, stop_daemon
    from vidpipe.ops.daemon_state import daemon_status

    root = session.project.root
    outside = tmp_path / "outside"
    planted = hostile_folder(root, outside)
    before = sorted(os.listdir(outside))
    try:
        daemon = start_daemon(root)
        try:
            wait_for(
                lambda: Asset.get_or_none(Asset.file_path == "good.jpg"), what="the start-up scan"
            )
            assert Asset.get(Asset.file_path == "fifo.jpg").state == AssetState.ERROR
            # Dropped while it runs: a FIFO, a name that is not UTF-8 and an image.
            os.mkfifo(root / "late-fifo.jpg")
            with open(os.path.join(os.fsencode(root), b"late-\xff.jpg"), "wb") as handle:
                handle.write((root / "good.jpg").read_bytes())
            image(root / "late.jpg", (7, 7, 7))
            wait_for(lambda: Asset.get_or_none(Asset.file_path == "late.jpg"), what="late drop")
            late_fifo = wait_for(
                lambda: Asset.get_or_none(Asset.file_path == "late-fifo.jpg"), what="late FIFO"
            )
            assert "FIFO" in late_fifo.error and daemon.poll() is None
            assert daemon_status(root).problem is None
            assert Asset.select().where(Asset.file_path.startswith("late-")).count() == 1
        finally:
            out = stop_daemon(daemon)
        assert daemon.returncode == 0, out
        assert "Traceback" not in out
        assert sorted(os.listdir(outside)) == before

        # A start-up scan that fails (the asset table unreadable) shows in the heartbeat and
        # in `vidpipe daemon status`; the daemon keeps running. (A renamed table would be a
        # table vidpipe did not create, refused when the database opens: a column is renamed.)
        session.close()
        with sqlite3.connect(session.project.database_path) as raw:
            raw.execute("ALTER TABLE asset RENAME COLUMN file_path TO file_path_away")
        daemon = start_daemon(root)
        try:
            status = wait_for(
                lambda: daemon_status(root).problem and daemon_status(root),
                what="the problem in the heartbeat",
            )
            assert "start-up scan of the folder failed" in status.problem
            cli = subprocess.run(
                [VIDPIPE, "daemon", "status", str(root)], capture_output=True, text=True, timeout=60
            )
            assert "PROBLEM: start-up scan of the folder failed" in cli.stdout
            from tui.widgets.job_panel import describe_daemon

            assert "problem: start-up scan of the folder failed" in describe_daemon(status).plain
            assert daemon.poll() is None
        finally:
            stop_daemon(daemon)
            with sqlite3.connect(session.project.database_path) as raw:
                raw.execute("ALTER TABLE asset RENAME COLUMN file_path_away TO file_path")
    finally:
        planted["socket"].close()


def test_stored_paths_leading_outside_are_per_asset_errors(session, tmp_path):
    """The database travels with the folder: a row naming ``../outside/secret.jpg`` is refused
    for that asset, and the rest of the manifest is processed."""
    root = session.project.root
    image(root / "good.jpg")
    secret = image(tmp_path / "outside" / "secret.jpg", (255, 0, 255))
    assert subprocess.run([VIDPIPE, "scan", str(root)], timeout=120).returncode == 0
    good = Asset.get(Asset.file_path == "good.jpg")
    Asset.update(content_hash="0" * 40).where(Asset.id == good.id).execute()
    hostile = Asset.create(
        manifest=good.manifest_id,
        name="secret",
        file_path="../outside/secret.jpg",
        content_hash="../../../../tmp/x",
        file_size=secret.stat().st_size,
        file_mtime=secret.stat().st_mtime,
        state=AssetState.PENDING,
    )
    session.close()
    out = subprocess.run(
        [VIDPIPE, "process", str(root)], capture_output=True, text=True, timeout=600
    )
    assert "Traceback" not in out.stderr, out.stderr
    session.database.connect(reuse_if_open=True)
    hostile = Asset.get_by_id(hostile.id)
    errors = hostile.stage_errors or {}
    assert {"faces", "prompts"} <= set(errors), errors  # each stage that reads the image says so
    assert all("leads outside the project folder" in text for text in errors.values()), errors
    good = Asset.get(Asset.file_path == "good.jpg")
    assert good.state == AssetState.PROCESSED and not good.stage_errors
    assert sorted(os.listdir(secret.parent)) == ["secret.jpg"]
    assert not Path("/tmp/x").exists()
