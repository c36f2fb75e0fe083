"""One job per manifest at a time: images dropped while a process job runs are left to the next
job (which later drops join), and a job that goes back to the queue takes over the one waiting
behind it instead of leaving two queued for one manifest."""

from __future__ import annotations

from daemon import client, job_runner
from daemon.ingesting import ingest_paths
from daemon.tasks import forget_task_sets, task_set
from vidpipe.pipeline import runs
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import reconcile
from vidpipe.store.models import Asset, AssetState, Manifest, Run, RunStatus, StageProgress
from vidpipe.pipeline.runs import ASSETS_UPTO, create_run
from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage
from vidpipe.pipeline.stages.prompts import PromptStage
from vidpipe.pipeline.stages.tags import TagStage


def test_drops_while_a_job_runs_join_the_next_job_and_the_running_one_leaves_them(
    session, make_image
):
    forget_task_sets()  # a real SQLite queue and no consumer: runs wait until executed here
    root = session.project.root
    try:
        make_image("first.png", size=(160, 120), color=(200, 40, 40), folder=root / "cast")
        reconcile(session.project, session.settings)
        manifest = Manifest.get()
        running = client.enqueue_process(root, manifest.id, requested_by="watcher")
        assert runs.claim(running.id)
        queued = []

        def drop_during_the_job(row) -> None:  # two drops while the first stage runs
            if queued:
                return
            for name, colour in (("second.png", (40, 200, 40)), ("third.png", (40, 40, 200))):
                path = make_image(name, size=(160, 120), color=colour, folder=root / "cast")
                outcome = ingest_paths(session.project, session.settings, [path])
                queued.extend(client.enqueue_processing(root, outcome.manifests))

        engine = ManifestingEngine(
            session.project,
            session.settings,
            stages=[ContactSheetStage(), PromptStage(), TagStage()],
            listener=drop_during_the_job,
            progress_interval=0,
        )
        done = engine.process_manifest(manifest.id, run=Run.get_by_id(running.id))
        assert done.status == RunStatus.DONE
        assert len(set(queued)) == 1 and queued[0] != running.id  # both drops: one next job
        assert Run.select().where(Run.manifest == manifest.id).count() == 2

        first = Asset.get(Asset.file_path == "cast/first.png")
        later = list(Asset.select().where(Asset.file_path != "cast/first.png"))
        assert first.state == AssetState.PROCESSED and first.reverse_prompt
        assert len(later) == 2
        assert all(a.state == AssetState.PENDING and not a.reverse_prompt for a in later)
        prompts = StageProgress.get(
            StageProgress.run == running.id, StageProgress.stage == "prompts"
        )
        assert prompts.total == 1  # the running job prompted only what it started with

        following = Run.get_by_id(queued[0])
        assert runs.claim(following.id)
        assert engine.process_manifest(manifest.id, run=following).status == RunStatus.DONE
        assert all(a.state == AssetState.PROCESSED and a.reverse_prompt for a in Asset.select())
    finally:
        forget_task_sets()


def test_a_job_back_in_the_queue_takes_over_the_one_waiting_behind_it(session):
    forget_task_sets()
    try:
        manifest = Manifest.create(name="m", folder="m")
        other = Manifest.create(name="other", folder="other")
        dead = create_run("process", manifest_id=manifest.id, args={ASSETS_UPTO: 3})
        Run.update(status=RunStatus.RUNNING, worker_pid=2**22 + 4321).where(
            Run.id == dead.id
        ).execute()
        StageProgress.update(status="done").where(
            StageProgress.run == dead.id, StageProgress.position < 2
        ).execute()
        behind = create_run("process", manifest_id=manifest.id)  # a drop while it ran
        elsewhere = create_run("process", manifest_id=other.id)
        queues = task_set(session.project)

        job_runner.requeue_runs(queues, previous_pid=None)
        assert Run.get_by_id(dead.id).status == RunStatus.QUEUED
        joined = Run.get_by_id(behind.id)
        assert joined.status == RunStatus.CANCELLED and f"#{dead.id}" in joined.error
        assert Run.get_by_id(elsewhere.id).status == RunStatus.QUEUED  # another manifest
        resumed = Run.get_by_id(dead.id)
        assert ASSETS_UPTO not in resumed.args  # it now owns the later drops too
        assert {s.status for s in StageProgress.select().where(StageProgress.run == dead.id)} == {
            "pending"
        }  # every stage again (finished work is skipped by the stages)
        waiting = (
            Run.select().where(Run.manifest == manifest.id, Run.status == RunStatus.QUEUED).count()
        )
        assert waiting == 1
    finally:
        forget_task_sets()


def test_a_drop_joining_a_run_back_in_the_queue_is_done_by_it(session, make_image):
    """Found by the soak (seed 9): the daemon was killed mid-run, the run went back to the queue
    keeping the images it started with, then a drop joined it - and was never processed."""
    forget_task_sets()
    root = session.project.root
    try:
        make_image("first.png", size=(160, 120), color=(200, 40, 40), folder=root / "cast")
        reconcile(session.project, session.settings)
        manifest = Manifest.get()
        run = client.enqueue_process(root, manifest.id, requested_by="watcher")
        first = Asset.get()
        # It had started (its images recorded, two stages done) when the daemon was killed.
        Run.update(
            status=RunStatus.RUNNING, worker_pid=2**22 + 4321, args={ASSETS_UPTO: first.id}
        ).where(Run.id == run.id).execute()
        StageProgress.update(status="done").where(
            StageProgress.run == run.id, StageProgress.position < 2
        ).execute()
        job_runner.requeue_runs(task_set(session.project))
        assert Run.get_by_id(run.id).args == {ASSETS_UPTO: first.id}  # resumes as it was

        path = make_image("second.png", size=(160, 120), color=(40, 200, 40), folder=root / "cast")
        outcome = ingest_paths(session.project, session.settings, [path])
        assert client.enqueue_processing(root, outcome.manifests) == [run.id]  # joins it
        joined = Run.get_by_id(run.id)
        assert ASSETS_UPTO not in joined.args
        assert {s.status for s in StageProgress.select().where(StageProgress.run == run.id)} == {
            "pending"
        }

        assert runs.claim(run.id)
        engine = ManifestingEngine(
            session.project,
            session.settings,
            stages=[ContactSheetStage(), PromptStage(), TagStage()],
        )
        assert engine.process_manifest(manifest.id, run=joined).status == RunStatus.DONE
        assert all(a.state == AssetState.PROCESSED and a.reverse_prompt for a in Asset.select())
    finally:
        forget_task_sets()
