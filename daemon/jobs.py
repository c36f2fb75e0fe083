"""What the queue's tasks do, and how the daemon rebuilds its queue from the database.

A job is a Run row (created QUEUED, with one progress row per stage) plus a queue entry carrying
the run id. The Run row is the truth and :mod:`vidpipe.runs` its only writer: a task first
*claims* its run, so a run that is queued twice, already finished or cancelled is never executed
twice; a daemon that died mid-run leaves the run RUNNING under a lapsed lease, and the next
daemon queues it again. The stages skip finished work, so the rerun ends in the state an
uninterrupted run reaches.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from vidpipe import runs
from vidpipe.config import Settings
from vidpipe.models import Run, RunKind, RunStatus
from vidpipe.project import Project
from vidpipe.stopping import StopToken

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """The daemon process's view of the work in progress (one per process)."""

    project: Project
    settings: Settings
    stopping: threading.Event = field(default_factory=threading.Event)
    current_run: int | None = None
    current_stop: StopToken | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self) -> None:
        """Graceful stop: the running job stops at its next item and ends INTERRUPTED."""
        self.stopping.set()
        with self.lock:
            if self.current_stop is not None:
                self.current_stop.shutdown()


_runtime: Runtime | None = None


def bind_runtime(project: Project, settings: Settings) -> Runtime:
    global _runtime
    _runtime = Runtime(project, settings)
    return _runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("daemon runtime not bound: call daemon.jobs.bind_runtime() first")
    return _runtime


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
    if not runs.claim(run_id):
        status = Run.get_by_id(run_id).status
        log.info("run #%s is %s; not executed again", run_id, status)
        return status
    stop = StopToken()
    with rt.lock:
        rt.current_run, rt.current_stop = run_id, stop
        if rt.stopping.is_set():  # the stop came between the check above and the claim
            stop.shutdown()
    log.info("run #%s %s started (manifest %s, asset %s, mode %s)", run_id, run.kind,
             run.manifest_id, run.asset_id, run.mode)
    try:
        engine = ManifestingEngine(rt.project, rt.settings)
        if run.kind == RunKind.REPROCESS:
            result = engine.reprocess_asset(run.asset_id, run=run, stop=stop)
        else:
            result = engine.process_manifest(run.manifest_id, run.mode, run=run, stop=stop)
    except Exception as exc:
        log.exception("run #%s crashed", run_id)
        if retries_left > 0:
            # Huey runs the task again after its retry delay; the stages skip finished work.
            runs.interrupt(run_id, f"crashed ({type(exc).__name__}: {exc}); retrying")
            runs.requeue(run_id)
            raise
        runs.fail(run_id, f"{type(exc).__name__}: {exc}")
        return RunStatus.FAILED
    finally:
        with rt.lock:
            rt.current_run, rt.current_stop = None, None
    if result.status == RunStatus.INTERRUPTED:
        log.info("run #%s interrupted by shutdown; it resumes on the next start", run_id)
    else:
        log.info("run #%s finished: %s%s", run_id, result.status,
                 f" ({result.error})" if result.error else "")
    return result.status


def ingest_job(path: str) -> dict:
    """Ingest ``path``: relative to this machine's mount of the project (absolute paths, from
    older queue entries, are taken as they are)."""
    from daemon.ingesting import ingest_paths, queue_processing

    rt = runtime()
    outcome = ingest_paths(rt.project, rt.settings, [rt.project.root / path])
    queue_processing(rt.project, outcome.manifests, requested_by="ingest")
    return {"ingested": outcome.ingested, "removed": outcome.removed}


def requeue_runs(queues, previous_pid: int | None = None) -> list[int]:
    """On start-up: runs abandoned by a dead process go back to QUEUED (:mod:`vidpipe.runs`
    decides which), and every QUEUED run missing from the queue is enqueued again. Returns the
    re-enqueued ids."""
    recovered = runs.recover_abandoned(dead_pids=[previous_pid] if previous_pid else [])
    if recovered:
        log.warning("run(s) %s had been interrupted; queued again",
                    ", ".join(f"#{i}" for i in recovered))
    pending = set()
    for task in queues.pipeline.pending():
        if task.args and isinstance(task.args[0], int):
            pending.add(task.args[0])
    enqueued = []
    for run in list(Run.select().where(Run.status == RunStatus.QUEUED,
                                       Run.kind.in_(list(RunKind)))
                    .order_by(Run.priority.desc(), Run.id)):
        if run.id not in pending:
            queues.tasks.enqueue_run(run)
            enqueued.append(run.id)
    if enqueued:
        log.info("re-enqueued queued run(s) %s", ", ".join(f"#{i}" for i in enqueued))
    return enqueued
