"""The queue's tasks in Huey's immediate mode (in-process), the run claim and start-up recovery,
and the lightness of daemon.client (the TUI imports it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon import client, job_runner
from daemon.ingesting import ingest_paths
from daemon.queue import use_immediate
from daemon.tasks import forget_task_sets, task_set
from vidpipe.pipeline import runs
from vidpipe.pipeline.ingest import reconcile
from vidpipe.store.models import Asset, AssetState, Manifest, Run, RunStatus, StageProgress
from vidpipe.pipeline.runs import PRIORITY_INTERACTIVE, create_run

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def immediate(session, make_image):
    for index in range(3):
        make_image(
            f"shot{index}.png",
            size=(160, 120),
            color=(40 * index, 90, 200),
            folder=session.project.root,
        )
    reconcile(session.project, session.settings)
    use_immediate(True)
    job_runner.bind_runtime(session.project, session.settings)
    yield session
    use_immediate(False)
    forget_task_sets()


def test_process_and_reprocess_tasks_run_through_huey(immediate, make_image):
    root = immediate.project.root
    manifest = Manifest.get()
    run = client.enqueue_process(root, manifest.id, requested_by="test")
    run = Run.get_by_id(run.id)
    assert run.status == RunStatus.DONE and run.worker_pid == os.getpid()
    assert all(a.state == AssetState.PROCESSED for a in Asset.select())

    asset = Asset.get(Asset.file_path == "shot1.png")
    again = client.enqueue_reprocess(root, asset.id, requested_by="test")
    again = Run.get_by_id(again.id)
    assert (again.kind, again.status, again.priority) == (
        "reprocess",
        RunStatus.DONE,
        PRIORITY_INTERACTIVE,
    )
    assert again.asset_id == asset.id

    # A folder dropped in, as the watcher handles it: ingested, then its manifest processed.
    new = make_image("late.png", size=(160, 120), color=(5, 5, 5), folder=root / "props")
    outcome = ingest_paths(immediate.project, immediate.settings, [new.parent])
    client.enqueue_processing(root, outcome.manifests)
    late = Asset.get(Asset.file_path == "props/late.png")
    assert late.state == AssetState.PROCESSED
    assert Run.get(Run.manifest == late.manifest).requested_by == "watcher"


def test_a_run_is_never_executed_twice(immediate):
    manifest = Manifest.get()
    run = create_run("process", manifest_id=manifest.id)
    assert runs.claim(run.id)
    assert not runs.claim(run.id)  # a second queue entry for the same run does nothing
    assert runs.finish(run.id, RunStatus.DONE)
    assert job_runner.run_pipeline_job(run.id) == RunStatus.DONE
    assert Run.get_by_id(run.id).attempts == 1  # not started a second time


def test_queued_process_run_is_reused_and_cancel_before_start(session):
    # Real SQLite queue, no consumer: runs stay queued.
    forget_task_sets()
    try:
        reconcile(session.project, session.settings)
        manifest = Manifest.create(name="empty", folder="empty")
        first = client.enqueue_process(session.project.root, manifest.id, "missing")
        second = client.enqueue_process(session.project.root, manifest.id, "missing")
        assert first.id == second.id
        full = client.enqueue_process(session.project.root, manifest.id, "all")
        assert full.id != first.id
        tasks = task_set(session.project)
        assert tasks.counts()["pipeline"] == 2
        assert client.cancel_run(first.id)
        assert Run.get_by_id(first.id).status == RunStatus.CANCELLED
        assert not client.cancel_run(first.id)
    finally:
        forget_task_sets()


def test_recovery_requeues_runs_of_a_dead_daemon(session):
    forget_task_sets()
    try:
        manifest = Manifest.create(name="m", folder="m")
        dead = create_run("process", manifest_id=manifest.id)
        Run.update(status=RunStatus.RUNNING, worker_pid=2**22 + 12345).where(
            Run.id == dead.id
        ).execute()
        StageProgress.update(status="running").where(
            StageProgress.run == dead.id, StageProgress.position == 0
        ).execute()
        alive = create_run("process", manifest_id=manifest.id)  # e.g. a foreground CLI run
        assert runs.claim(alive.id, owner=f"{runs._HOST}:{os.getppid()}")
        queued = create_run("reprocess", manifest_id=manifest.id, priority=PRIORITY_INTERACTIVE)
        tasks = task_set(session.project)

        assert sorted(job_runner.requeue_runs(tasks)) == [dead.id, queued.id]
        assert Run.get_by_id(dead.id).status == RunStatus.QUEUED
        assert Run.get_by_id(alive.id).status == RunStatus.RUNNING
        assert {s.status for s in StageProgress.select().where(StageProgress.run == dead.id)} == {
            "pending"
        }
        pending = tasks.huey.pending()
        assert pending[0].args == (queued.id,)  # interactive work first
        assert job_runner.requeue_runs(tasks) == []  # already in the queue: not added twice
    finally:
        forget_task_sets()


def test_client_import_stays_light():
    code = (
        "import sys, daemon.client\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'ultralytics', 'deepface', "
        "'google.genai', 'cv2') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == ""
