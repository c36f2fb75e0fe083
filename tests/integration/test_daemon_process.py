"""The real daemon as a subprocess on a temp project: folder drops processed with no command,
reprocess through the queue, one daemon per project, SIGTERM, and kill -9 at several points
compared with an uninterrupted run. Synchronisation is by polling the database with a timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from support.daemons import (
    KILL_POINTS,
    REPO,
    VIDPIPE,
    idle,
    stage_rows,
    start_daemon,
    stop_daemon,
    wait_for,
    write_images,
)
from vidpipe.ops.daemon_state import daemon_status
from vidpipe.store.models import Asset, AssetState, Run, RunStatus, StageProgress
from vidpipe.store.session import open_project


def snapshot() -> list[tuple]:
    """What must be identical between an interrupted-and-resumed project and a clean one."""
    return sorted(
        (
            a.file_path
            if a.source == "uploaded"
            else f"{a.source_asset.file_path}#{a.extraction_key}",
            a.source,
            a.state,
            a.manifest_tag,
            a.asset_type,
            a.reverse_prompt,
            a.visual_description,
            a.detection_class,
            json.dumps(a.crop_bbox),
            a.is_face_crop,
        )
        for a in Asset.select()
    )


@pytest.fixture
def project_root(tmp_path):
    session = open_project(tmp_path / "project", create=True)
    yield session.project.root
    session.close()


def test_drop_is_processed_without_a_command_and_reprocess_goes_through_the_queue(
    project_root, tmp_path
):
    daemon = start_daemon(project_root)
    try:
        write_images(project_root, 3)
        write_images(project_root / "characters", 2, seed=7)
        # A file written slowly in chunks, the writer keeping it open (scp-like).
        source = write_images(tmp_path / "src", 1, seed=3, size=(1200, 900))[0].read_bytes()
        slow = project_root / "slow.jpg"
        with open(slow, "wb") as handle:
            for start in range(0, len(source), len(source) // 6 + 1):
                handle.write(source[start : start + len(source) // 6 + 1])
                handle.flush()
                time.sleep(0.3)
        wait_for(lambda: idle(6), what="6 assets processed")
        slow_asset = Asset.get(Asset.file_path == "slow.jpg")
        assert slow_asset.state == AssetState.PROCESSED and slow_asset.error is None
        assert slow_asset.file_size == len(source)
        assert Asset.select().where(Asset.source == "uploaded").count() == 6  # each once
        runs = list(Run.select())
        assert runs and all(r.status == RunStatus.DONE for r in runs)
        assert {r.requested_by for r in runs} == {"watcher"}
        assert Run.select().where(Run.manifest == slow_asset.manifest).count() <= 2  # coalesced

        from daemon.client import enqueue_reprocess

        target = Asset.get(Asset.file_path == "img001.jpg")
        run = enqueue_reprocess(project_root, target.id, requested_by="test")
        wait_for(
            lambda: Run.get_by_id(run.id).status not in (RunStatus.QUEUED, RunStatus.RUNNING),
            what="reprocess run",
        )
        done = Run.get_by_id(run.id)
        assert done.status == RunStatus.DONE and done.worker_pid == daemon.pid
        assert [
            s.stage
            for s in StageProgress.select()
            .where(StageProgress.run == run.id)
            .order_by(StageProgress.position)
        ] == ["detection", "prompts", "tags"]

        status = daemon_status(project_root)
        assert status.running and status.pid == daemon.pid and status.watcher == "inotify"
    finally:
        out = stop_daemon(daemon)
    assert daemon.returncode == 0, out
    assert "database is locked" not in out


def test_second_daemon_refused_and_sigterm_exits(project_root):
    first = start_daemon(project_root)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "daemon.main", str(project_root)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert f"pid {first.pid}" in second.stderr
        cli = subprocess.run(
            [VIDPIPE, "daemon", "status", str(project_root)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0 and f"pid {first.pid}" in cli.stdout
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)  # generous: it must exit on its own, not be killed
    assert first.returncode == 0
    assert not daemon_status(project_root).running


def test_vidpipe_daemon_stop_and_stale_lock_taken_over(project_root):
    first = start_daemon(project_root)
    first.kill()  # kill -9: the lock file stays, the kernel drops the flock
    first.wait(timeout=30)
    second = start_daemon(project_root)  # takes the stale lock over
    try:
        stop = subprocess.run(
            [VIDPIPE, "daemon", "stop", str(project_root)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert stop.returncode == 0, stop.stdout + stop.stderr
        second.wait(timeout=30)
        assert second.returncode == 0
    finally:
        if second.poll() is None:
            second.kill()
    assert not daemon_status(project_root).running


# Small images: the faces stage (deepface) costs about a second per image on a CPU here, and is
# the slow stage a kill lands in.
IMAGES_FOR_KILL = 8
KILL_IMAGE_SIZE = (320, 240)


@pytest.fixture(scope="module")
def reference_snapshot(tmp_path_factory) -> list[tuple]:
    """The same images processed by an uninterrupted daemon, in another project."""
    session = open_project(tmp_path_factory.mktemp("reference") / "project", create=True)
    try:
        write_images(session.project.root, IMAGES_FOR_KILL, seed=11, size=KILL_IMAGE_SIZE)
        daemon = start_daemon(session.project.root)
        try:
            wait_for(lambda: idle(IMAGES_FOR_KILL), timeout=600, what="reference run")
        finally:
            stop_daemon(daemon)
        return snapshot()
    finally:
        session.close()


@pytest.mark.parametrize("kill_when", list(KILL_POINTS))
def test_kill_9_then_restart_reaches_the_uninterrupted_state(
    tmp_path, kill_when, reference_snapshot
):
    session = open_project(tmp_path / "project", create=True)
    root = session.project.root
    try:
        write_images(root, IMAGES_FOR_KILL, seed=11, size=KILL_IMAGE_SIZE)
        daemon = start_daemon(root)
        wait_for(
            lambda: KILL_POINTS[kill_when](stage_rows()),
            timeout=600,
            interval=0.005,
            what=f"the run to reach {kill_when}",
        )
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=30)
        assert Run.select().where(Run.status == RunStatus.RUNNING).exists()  # killed mid-run

        restarted = start_daemon(root)
        try:
            wait_for(lambda: idle(IMAGES_FOR_KILL), timeout=600, what="resumed run")
        finally:
            out = stop_daemon(restarted)
        assert restarted.returncode == 0, out
        assert (
            not Run.select().where(Run.status.in_([RunStatus.RUNNING, RunStatus.QUEUED])).exists()
        )
        assert snapshot() == reference_snapshot
        assert Asset.select().count() == len(reference_snapshot)  # no duplicates
    finally:
        session.close()
