"""Run rows: one per job, with one progress row per stage, created before any work starts so
every process can show the job as queued."""

from __future__ import annotations

import os

from peewee import fn

from vidpipe.models import Asset, Run, RunStatus, StageProgress, StageStatus, db, utcnow
from vidpipe.stages.base import STAGE_ORDER, StageName

#: Jobs a person asked for (reprocess from the TUI) jump ahead of bulk work.
PRIORITY_INTERACTIVE = 10
PRIORITY_BULK = 0

ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)
ASSETS_UPTO = "assets_upto"  # Run.args key, see assets_upto()

#: Stages a single-asset reprocess reruns, in order (here, not in the engine, so that the light
#: daemon client can queue one without importing the engine).
REPROCESS_STAGES = [StageName.DETECTION, StageName.PROMPTS, StageName.TAGS]


def create_run(kind: str, manifest_id: int | None = None, asset_id: int | None = None,
               mode: str = "missing", stages: list[StageName] | None = None,
               priority: int = PRIORITY_BULK, requested_by: str = "cli",
               args: dict | None = None) -> Run:
    stages = STAGE_ORDER if stages is None else stages
    with db.atomic():
        run = Run.create(kind=kind, manifest=manifest_id, asset=asset_id, mode=mode,
                         priority=priority, requested_by=requested_by, args=args or {},
                         status=RunStatus.QUEUED)
        for position, stage in enumerate(stages):
            StageProgress.create(run=run, stage=stage, position=position)
    return run


def start_run(run: Run) -> Run:
    Run.update(status=RunStatus.RUNNING, started_at=utcnow(), updated_at=utcnow(),
               worker_pid=os.getpid(), attempts=Run.attempts + 1, error=None).where(
        Run.id == run.id).execute()
    return Run.get_by_id(run.id)


def finish_run(run: Run, status: RunStatus, error: str | None = None) -> None:
    Run.update(status=status, finished_at=utcnow(), updated_at=utcnow(), error=error).where(
        Run.id == run.id).execute()


def request_cancel(run_id: int) -> bool:
    """Ask a run to stop. A queued run is cancelled at once; a running one stops at its next
    check, keeping what it finished. Returns False if the run had already ended."""
    with db.atomic():
        run = Run.get_by_id(run_id)
        if run.status == RunStatus.QUEUED:
            finish_run(run, RunStatus.CANCELLED, "cancelled before it started")
            StageProgress.update(status=StageStatus.CANCELLED).where(
                StageProgress.run == run_id).execute()
            return True
        if run.status == RunStatus.RUNNING:
            Run.update(cancel_requested=True, updated_at=utcnow()).where(Run.id == run_id).execute()
            return True
        return False


def assets_upto(run: Run) -> int:
    """The newest asset id when ``run`` first started, recorded then and kept across restarts:
    images dropped while a process job runs are left to the next job, which they join (see
    :func:`daemon.client.enqueue_process`), instead of being half done by this one (prompted
    before they were detected, settled before their crops existed)."""
    with db.atomic():
        args = dict(Run.get_by_id(run.id).args or {})
        if ASSETS_UPTO not in args:
            args[ASSETS_UPTO] = Asset.select(fn.MAX(Asset.id)).scalar() or 0
            Run.update(args=args).where(Run.id == run.id).execute()
    return int(args[ASSETS_UPTO])


def reset_for_retry(run: Run) -> None:
    """Put an interrupted run back to queued; stages that finished stay finished (the stages
    themselves skip the work that is already done).

    One job per manifest: process runs of the same manifest waiting behind it (drops made while
    it ran) join it instead of waiting as a second job. It then forgets the images it started
    with and runs every stage again over all of them; finished work is skipped by the stages.
    """
    with db.atomic():
        Run.update(status=RunStatus.QUEUED, updated_at=utcnow(), cancel_requested=False).where(
            Run.id == run.id).execute()
        StageProgress.update(status=StageStatus.PENDING, current_item=None).where(
            StageProgress.run == run.id,
            StageProgress.status.in_([StageStatus.RUNNING, StageStatus.PENDING])).execute()
        if run.kind == "process":
            _absorb_waiting_runs(Run.get_by_id(run.id))


def _absorb_waiting_runs(run: Run) -> None:
    waiting = [other for other in Run.select().where(
        Run.kind == "process", Run.manifest == run.manifest_id, Run.id != run.id,
        Run.status == RunStatus.QUEUED) if other.mode == "missing" or run.mode == "all"]
    if not waiting:
        return
    for other in waiting:
        finish_run(other, RunStatus.CANCELLED, f"joined run #{run.id}, which does its work")
        StageProgress.update(status=StageStatus.CANCELLED).where(
            StageProgress.run == other.id).execute()
    take_in_new_images(run)


def take_in_new_images(run: Run) -> None:
    """A waiting run that images dropped since it first started now join (a drop, or a run it
    takes over): it forgets the images it started with and will run every stage again; the
    stages skip what is done. A run that never started owns every image when it starts."""
    if ASSETS_UPTO not in (run.args or {}):
        return
    with db.atomic():
        args = {k: v for k, v in run.args.items() if k != ASSETS_UPTO}
        Run.update(args=args, updated_at=utcnow()).where(Run.id == run.id).execute()
        StageProgress.update(status=StageStatus.PENDING, current_item=None,
                             finished_at=None).where(StageProgress.run == run.id).execute()


def latest_run(manifest_id: int | None = None) -> Run | None:
    query = Run.select()
    if manifest_id is not None:
        query = query.where(Run.manifest == manifest_id)
    return query.order_by(Run.id.desc()).first()


def stage_rows(run_id: int) -> list[StageProgress]:
    return list(StageProgress.select().where(StageProgress.run == run_id)
                .order_by(StageProgress.position))
