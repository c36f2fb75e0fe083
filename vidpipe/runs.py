"""Run rows: one per job, with one progress row per stage, created before any work starts so
every process can show the job as queued."""

from __future__ import annotations

import os

from vidpipe.models import Run, RunStatus, StageProgress, StageStatus, db, utcnow
from vidpipe.stages.base import STAGE_ORDER, StageName

#: Jobs a person asked for (reprocess from the TUI) jump ahead of bulk work.
PRIORITY_INTERACTIVE = 10
PRIORITY_BULK = 0

ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)

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


def reset_for_retry(run: Run) -> None:
    """Put an interrupted run back to queued; stages that finished stay finished (the stages
    themselves skip the work that is already done)."""
    with db.atomic():
        Run.update(status=RunStatus.QUEUED, updated_at=utcnow(), cancel_requested=False).where(
            Run.id == run.id).execute()
        StageProgress.update(status=StageStatus.PENDING, current_item=None).where(
            StageProgress.run == run.id,
            StageProgress.status.in_([StageStatus.RUNNING, StageStatus.PENDING])).execute()


def latest_run(manifest_id: int | None = None) -> Run | None:
    query = Run.select()
    if manifest_id is not None:
        query = query.where(Run.manifest == manifest_id)
    return query.order_by(Run.id.desc()).first()


def stage_rows(run_id: int) -> list[StageProgress]:
    return list(StageProgress.select().where(StageProgress.run == run_id)
                .order_by(StageProgress.position))
