"""What the queue's tasks do, and how the daemon rebuilds its queue from the database.

A job is a Run row (created QUEUED, with one progress row per stage) plus a queue entry carrying
the run id. The Run row is the truth and :mod:`vidpipe.pipeline.runs` its only writer: a task first
*claims* its run, so a run that is queued twice, already finished or cancelled is never executed
twice; a daemon that died mid-run leaves the run RUNNING under a lapsed lease, and the next
daemon queues it again. The stages skip finished work, so the rerun ends in the state an
uninterrupted run reaches.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from vidpipe.pipeline import runs
from vidpipe.config.settings import Settings
from vidpipe.errors import DatabaseUnreachable, DiskFull
from vidpipe.store.database import serialize_writers
from vidpipe.store.reconnect import wait_for_database
from vidpipe.store.models import Run, RunKind, RunStatus, db
from vidpipe.store.project import Project
from vidpipe.pipeline.stopping import StopToken

from daemon.box_lock import one_job_per_box

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
    #: Several daemons serve the project (shared queue): pipeline jobs take the machine's lock.
    shared: bool = False

    def stop(self) -> None:
        """Graceful stop: the running job stops at its next item and ends INTERRUPTED."""
        self.stopping.set()
        with self.lock:
            if self.current_stop is not None:
                self.current_stop.shutdown()


_runtime: Runtime | None = None


def bind_runtime(project: Project, settings: Settings, shared: bool = False) -> Runtime:
    global _runtime
    _runtime = Runtime(project, settings, shared=shared)
    return _runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("daemon runtime not bound: call daemon.job_runner.bind_runtime() first")
    return _runtime


#: Advisory lock key of claims ("vidc"): see :func:`claim`.
CLAIM_LOCK_KEY = 0x76696463


def claim(run: Run) -> bool:
    """:func:`vidpipe.pipeline.runs.claim`, unless another run of the same manifest is running: daemons
    sharing a queue work on one manifest with one job at a time (the run stays queued and is
    queued again by daemon.takeover.enqueue_lost_runs). The look and the claim are one
    transaction under a lock, so two machines never both pass the look."""
    with db.atomic():
        serialize_writers(CLAIM_LOCK_KEY)
        if (
            run.manifest_id is not None
            and Run.select()
            .where(
                Run.manifest == run.manifest_id, Run.id != run.id, Run.status == RunStatus.RUNNING
            )
            .exists()
        ):
            log.info(
                "run #%s waits: another run of manifest %s is running", run.id, run.manifest_id
            )
            return False
        return runs.claim(run.id)


def run_pipeline_job(run_id: int, retries_left: int = 0) -> str:
    """Execute a process/reprocess run; returns its final status."""
    rt = runtime()
    run = Run.get_or_none(Run.id == run_id)
    if run is None:
        log.warning("run #%s no longer exists; skipped", run_id)
        return "missing"
    if rt.stopping.is_set():
        return run.status  # left queued: the next start re-enqueues it
    if not rt.shared:
        return _execute(rt, run, retries_left)
    with one_job_per_box(rt.stopping) as have_box:
        if not have_box:
            return run.status  # stopping while another daemon of this machine ran a job
        return _execute(rt, run, retries_left)


def _execute(rt: Runtime, run: Run, retries_left: int) -> str:
    run_id = run.id
    if not claim(run):
        status = Run.get_by_id(run_id).status
        log.info("run #%s is %s; not executed here", run_id, status)
        return status
    stop = StopToken()
    with rt.lock:
        rt.current_run, rt.current_stop = run_id, stop
        if rt.stopping.is_set():  # the stop came between the check above and the claim
            stop.shutdown()
    log.info(
        "run #%s %s started (manifest %s, asset %s, mode %s)",
        run_id,
        run.kind,
        run.manifest_id,
        run.asset_id,
        run.mode,
    )
    try:
        result = _run_resuming(rt, run, stop)
        if result is None:
            return RunStatus.RUNNING  # given up or left while the database was away
    except DiskFull as exc:  # not even the interruption could be written
        log.warning("run #%s stopped: %s", run_id, exc)
        return RunStatus.INTERRUPTED
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
        log.info(
            "run #%s finished: %s%s",
            run_id,
            result.status,
            f" ({result.error})" if result.error else "",
        )
    return result.status


def _run_resuming(rt: Runtime, run: Run, stop: StopToken) -> Run | None:
    """The engine on ``run``; when the database goes away mid-run, wait for it and resume the run
    where it stopped (the stages skip finished work), as long as this process still holds it.
    None: the run was left (the daemon is stopping, or the lease was given up or taken over);
    whoever takes it over resumes it."""
    from vidpipe.pipeline.engine import ManifestingEngine  # the stages load their ML stacks lazily

    engine = ManifestingEngine(rt.project, rt.settings)
    while True:
        try:
            if run.kind == RunKind.REPROCESS:
                assert run.asset_id is not None  # a reprocess names its asset
                return engine.reprocess_asset(run.asset_id, run=run, stop=stop)
            assert run.manifest_id is not None  # a process run names its manifest
            return engine.process_manifest(run.manifest_id, run.mode, run=run, stop=stop)
        except DatabaseUnreachable as exc:
            log.warning("run #%s paused: %s; it resumes when the database answers", run.id, exc)
            if not wait_for_database(db.obj, stop.is_set):
                log.warning(
                    "run #%s left while the database was unreachable (stopping, or "
                    "its lease ran out); it resumes under whichever daemon takes it",
                    run.id,
                )
                return None
            if not runs.holds(run.id):
                log.warning("run #%s was taken over while the database was unreachable", run.id)
                return None
            log.info("database reachable again: run #%s resumes where it stopped", run.id)


def requeue_runs(tasks, previous_pid: int | None = None) -> list[int]:
    """On start-up: runs abandoned by a dead process go back to QUEUED (:mod:`vidpipe.pipeline.runs`
    decides which), and every QUEUED run missing from the queue (``tasks``, a
    daemon.tasks.TaskSet) is enqueued again. Returns the re-enqueued ids."""
    recovered = runs.recover_abandoned(dead_pids=[previous_pid] if previous_pid else [])
    if recovered:
        log.warning(
            "run(s) %s had been interrupted; queued again", ", ".join(f"#{i}" for i in recovered)
        )
    pending = tasks.queued_run_ids()
    enqueued = []
    for run in list(
        Run.select()
        .where(Run.status == RunStatus.QUEUED, Run.kind.in_(list(RunKind)))
        .order_by(Run.priority.desc(), Run.id)
    ):
        if run.id not in pending:
            tasks.enqueue_run(run)
            enqueued.append(run.id)
    if enqueued:
        log.info("re-enqueued queued run(s) %s", ", ".join(f"#{i}" for i in enqueued))
    return enqueued
