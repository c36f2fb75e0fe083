"""What the queue's tasks do, and how the daemon rebuilds its queue from the database.

A job is a Run row (created QUEUED, with one progress row per stage) plus a queue entry carrying
the run id. The Run row is the truth: a task first *claims* its run (QUEUED -> RUNNING in one
conditional UPDATE), so a run that is queued twice, already finished or cancelled is never
executed twice; a daemon that died mid-run leaves the run RUNNING under a dead pid, and the next
daemon puts it back to QUEUED and re-enqueues it. The stages skip finished work, so the rerun
ends in the state an uninterrupted run reaches.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from vidpipe.config import Settings
from vidpipe.models import Run, RunStatus, StageProgress, StageStatus, db, utcnow
from vidpipe.project import Project
from vidpipe.runs import finish_run, reset_for_retry

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The daemon process's view of the work in progress (one per process)."""

    project: Project
    settings: Settings
    stopping: threading.Event = field(default_factory=threading.Event)
    current_run: int | None = None
    current_cancel: threading.Event | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self) -> None:
        """Graceful stop: the running job checkpoints at its next item and is left resumable."""
        self.stopping.set()
        with self.lock:
            if self.current_cancel is not None:
                self.current_cancel.set()


_runtime: Runtime | None = None


def bind_runtime(project: Project, settings: Settings) -> Runtime:
    global _runtime
    _runtime = Runtime(project, settings)
    return _runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("daemon runtime not bound: call daemon.jobs.bind_runtime() first")
    return _runtime


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_run(run_id: int) -> bool:
    """QUEUED -> RUNNING for this process, atomically; False if another claim won or it ended."""
    return Run.update(status=RunStatus.RUNNING, worker_pid=os.getpid(), updated_at=utcnow()).where(
        Run.id == run_id, Run.status == RunStatus.QUEUED).execute() == 1


def run_pipeline_job(run_id: int, retries_left: int = 0) -> str:
    """Execute a process/reprocess run; returns its final status."""
    from vidpipe.engine import ManifestingEngine  # the stages load their ML stacks lazily

    rt = runtime()
    run = Run.get_or_none(Run.id == run_id)
    if run is None:
        log.warning("run #%s no longer exists; skipped", run_id)
        return "missing"
    if rt.stopping.is_set():
        return run.status  # left queued: the next start re-enqueues it
    if not claim_run(run_id):
        log.info("run #%s is %s; not executed again", run_id, run.status)
        return run.status
    cancel = threading.Event()
    with rt.lock:
        rt.current_run, rt.current_cancel = run_id, cancel
    log.info("run #%s %s started (manifest %s, asset %s, mode %s)", run_id, run.kind,
             run.manifest_id, run.asset_id, run.mode)
    try:
        engine = ManifestingEngine(rt.project, rt.settings)
        if run.kind == "reprocess":
            result = engine.reprocess_asset(run.asset_id, run=run, cancel_event=cancel)
        else:
            result = engine.process_manifest(run.manifest_id, run.mode, run=run,
                                             cancel_event=cancel)
    except Exception as exc:
        log.exception("run #%s crashed", run_id)
        if retries_left > 0:
            reset_for_retry(run)  # Huey re-enqueues the task after its retry delay
            raise
        finish_run(run, RunStatus.FAILED, f"{type(exc).__name__}: {exc}")
        return RunStatus.FAILED
    finally:
        with rt.lock:
            rt.current_run, rt.current_cancel = None, None
    if result.status == RunStatus.CANCELLED and rt.stopping.is_set() \
            and not result.cancel_requested:
        mark_interrupted(run_id)
        log.info("run #%s interrupted by shutdown; it resumes on the next start", run_id)
        return RunStatus.INTERRUPTED
    log.info("run #%s finished: %s%s", run_id, result.status,
             f" ({result.error})" if result.error else "")
    return result.status


def mark_interrupted(run_id: int) -> None:
    with db.atomic():
        Run.update(status=RunStatus.INTERRUPTED, finished_at=None, updated_at=utcnow(),
                   error="daemon stopped; resumes on next start").where(Run.id == run_id).execute()
        StageProgress.update(status=StageStatus.PENDING, current_item=None,
                             finished_at=None).where(
            StageProgress.run == run_id, StageProgress.status == StageStatus.CANCELLED).execute()


def ingest_job(path: str) -> dict:
    """Ingest ``path``: relative to this machine's mount of the project (absolute paths, from
    older queue entries, are taken as they are)."""
    from daemon.ingesting import ingest_paths, queue_processing

    rt = runtime()
    outcome = ingest_paths(rt.project, rt.settings, [rt.project.root / path])
    queue_processing(rt.project, outcome.manifests, requested_by="ingest")
    return {"ingested": outcome.ingested, "removed": outcome.removed}


def recover_runs(queues, previous_pid: int | None = None) -> list[int]:
    """On start-up: runs left RUNNING by a dead process or INTERRUPTED go back to QUEUED, and
    every QUEUED run missing from the queue is enqueued again. Returns the re-enqueued ids."""
    me = os.getpid()
    for run in Run.select().where(Run.status.in_([RunStatus.RUNNING, RunStatus.INTERRUPTED])):
        dead = (run.status == RunStatus.INTERRUPTED or run.worker_pid in (me, previous_pid)
                or not pid_alive(run.worker_pid))
        if dead:
            log.warning("run #%s was %s (pid %s gone); queued again", run.id, run.status,
                        run.worker_pid)
            reset_for_retry(run)
            StageProgress.update(status=StageStatus.PENDING, finished_at=None).where(
                StageProgress.run == run.id,
                StageProgress.status == StageStatus.CANCELLED).execute()
    pending = set()
    for task in queues.pipeline.pending():
        if task.args and isinstance(task.args[0], int):
            pending.add(task.args[0])
    enqueued = []
    for run in (Run.select().where(Run.status == RunStatus.QUEUED,
                                   Run.kind.in_(["process", "reprocess"]))
                .order_by(Run.priority.desc(), Run.id)):
        if run.id not in pending:
            queues.tasks.enqueue_run(run)
            enqueued.append(run.id)
    if enqueued:
        log.info("re-enqueued queued run(s) %s", ", ".join(f"#{i}" for i in enqueued))
    return enqueued
