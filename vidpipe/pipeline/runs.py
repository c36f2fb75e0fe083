"""Run rows and their lifecycle: the one module that changes ``Run.status``.

::

    create_run ─> QUEUED ──claim──> RUNNING ──finish──> DONE | FAILED | CANCELLED
                    │  ^               └──interrupt──> INTERRUPTED ──fail──> FAILED
                    │  └──────────requeue─────────────────┘
                    └──cancel──> CANCELLED

Every transition is one conditional UPDATE on the state it expects ("claim: QUEUED -> RUNNING
where the run is still QUEUED") and returns whether it happened, so two processes racing for
one run never both win. ``claim`` is the only way to RUNNING. A running run holds a *lease*
(owner "host:pid", expiry) renewed by the process that runs it; a run whose lease lapsed (its
process died) is interrupted and queued again by :func:`recover_abandoned`. The running process
only ends a run it still holds.

A person's cancel of a running run is a flag the run sees at its next item; a process that is
stopping says so with :class:`vidpipe.pipeline.stopping.StopToken` and ends the run INTERRUPTED directly.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from peewee import fn

from vidpipe.store.models import (
    Asset,
    Run,
    RunKind,
    RunMode,
    RunStatus,
    StageProgress,
    StageStatus,
    db,
)
from vidpipe.store.clock import server_now
from vidpipe.pipeline.stages.base import STAGE_ORDER, StageName

log = logging.getLogger(__name__)

#: Jobs a person asked for (reprocess from the TUI) jump ahead of bulk work.
PRIORITY_INTERACTIVE = 10
PRIORITY_BULK = 0

ASSETS_UPTO = "assets_upto"  # Run.args key, see assets_upto()

#: Stages a single-asset reprocess reruns, in order (here, not in the engine, so that the light
#: daemon client can queue one without importing the engine).
REPROCESS_STAGES = [StageName.DETECTION, StageName.PROMPTS, StageName.TAGS]

#: A running run's lease lasts this long unless its process renews it (every LEASE_RENEW_S).
LEASE_S = 60.0
LEASE_RENEW_S = 15.0

_HOST = socket.gethostname()


def this_owner() -> str:
    """The lease owner name of this process: "host:pid"."""
    return f"{_HOST}:{os.getpid()}"


def create_run(
    kind: RunKind | str,
    manifest_id: int | None = None,
    asset_id: int | None = None,
    mode: RunMode | str = RunMode.MISSING,
    stages: list[StageName] | None = None,
    priority: int = PRIORITY_BULK,
    requested_by: str = "cli",
    args: dict | None = None,
) -> Run:
    """A new QUEUED run with one PENDING progress row per stage."""
    stages = STAGE_ORDER if stages is None else stages
    with db.atomic():
        run = Run.create(
            kind=RunKind(kind),
            manifest=manifest_id,
            asset=asset_id,
            mode=RunMode(mode),
            priority=priority,
            requested_by=requested_by,
            args=args or {},
            status=RunStatus.QUEUED,
            updated_at=server_now(),
        )
        for position, stage in enumerate(stages):
            StageProgress.create(run=run, stage=stage, position=position)
    return run


# -- transitions --------------------------------------------------------------------------------
_THIS_PROCESS = object()


def _move(
    run_id: int,
    expected: Iterable[RunStatus],
    target: RunStatus,
    holder: object = None,
    also=None,
    **fields,
) -> bool:
    """The one conditional UPDATE behind every transition: True if the run was in ``expected``
    (and, unless ``holder`` is None, leased to ``holder``; and ``also`` holds, an SQL condition)
    and is now ``target``."""
    query = Run.update(status=target, updated_at=server_now(), **fields).where(
        Run.id == run_id, Run.status.in_(list(expected))
    )
    if also is not None:
        query = query.where(also)
    if holder is _THIS_PROCESS:
        holder = this_owner()
    if holder == "":  # a run from before leases, known by its pid only
        query = query.where(Run.lease_owner.is_null())
    elif holder is not None:
        query = query.where(Run.lease_owner == holder)
    return query.execute() == 1


def claim(run_id: int, owner: str | None = None, lease_s: float = LEASE_S) -> bool:
    """QUEUED -> RUNNING, leased to ``owner`` (this process by default). False if the run is not
    queued (another claim won, it ended, it was cancelled)."""
    return _move(
        run_id,
        [RunStatus.QUEUED],
        RunStatus.RUNNING,
        lease_owner=owner or this_owner(),
        lease_expires_at=server_now(lease_s),
        worker_pid=os.getpid(),
        started_at=server_now(),
        finished_at=None,
        attempts=Run.attempts + 1,
        error=None,
    )


def holds(run_id: int, owner: str | None = None) -> bool:
    """Whether ``owner`` (this process by default) holds the unexpired lease of a RUNNING run."""
    return (
        Run.select()
        .where(
            Run.id == run_id,
            Run.status == RunStatus.RUNNING,
            Run.lease_owner == (owner or this_owner()),
            Run.lease_expires_at > server_now(),
        )
        .exists()
    )


def renew(run_id: int, owner: str | None = None, lease_s: float = LEASE_S) -> bool:
    """RUNNING -> RUNNING with a later expiry; False if ``owner`` no longer holds the run."""
    return (
        Run.update(lease_expires_at=server_now(lease_s))
        .where(
            Run.id == run_id,
            Run.status == RunStatus.RUNNING,
            Run.lease_owner == (owner or this_owner()),
        )
        .execute()
        == 1
    )


def finish(
    run_id: int, status: RunStatus, error: str | None = None, owner: str | None = None
) -> bool:
    """RUNNING -> DONE | FAILED | CANCELLED, by the lease holder (this process by default)."""
    if status not in (RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED):
        raise ValueError(f"a run finishes DONE, FAILED or CANCELLED, not {status}")
    with db.atomic():
        moved = _move(
            run_id,
            [RunStatus.RUNNING],
            status,
            holder=owner or _THIS_PROCESS,
            finished_at=server_now(),
            error=error,
            lease_owner=None,
            lease_expires_at=None,
        )
        if moved and status == RunStatus.CANCELLED:
            _stages_cancelled(run_id)
    return moved


def cancel(run_id: int) -> bool:
    """A person's cancel. QUEUED -> CANCELLED at once; a RUNNING run is flagged and stops at its
    next item (keeping what it finished), then its process finishes it CANCELLED. False if the
    run had already ended."""
    with db.atomic():
        if _move(
            run_id,
            [RunStatus.QUEUED],
            RunStatus.CANCELLED,
            finished_at=server_now(),
            error="cancelled before it started",
        ):
            _stages_cancelled(run_id)
            return True
    return (
        Run.update(cancel_requested=True, updated_at=server_now())
        .where(Run.id == run_id, Run.status == RunStatus.RUNNING)
        .execute()
        == 1
    )


def interrupt(run_id: int, reason: str, owner: str | None = None) -> bool:
    """RUNNING -> INTERRUPTED, by the lease holder (this process by default): its process is
    stopping (shutdown, Ctrl+C, a crash). The stage it was in goes back to PENDING; finished
    stages stay finished. A run whose process died is interrupted by :func:`recover_abandoned`."""
    return _interrupt(run_id, reason, owner or _THIS_PROCESS)


def _interrupt(run_id: int, reason: str, holder: object, also=None) -> bool:
    with db.atomic():
        moved = _move(
            run_id,
            [RunStatus.RUNNING],
            RunStatus.INTERRUPTED,
            holder=holder,
            also=also,
            finished_at=None,
            error=reason,
            lease_owner=None,
            lease_expires_at=None,
        )
        if moved:
            _stages_pending(run_id, "interrupted; resumes where it stopped")
    return moved


def requeue(run_id: int) -> bool:
    """INTERRUPTED -> QUEUED; the stages skip the work already done when it runs again.

    One job per manifest: process runs of the same manifest waiting behind it (drops made while
    it ran) join it instead of waiting as a second job. It then forgets the images it started
    with and runs every stage again over all of them; finished work is skipped by the stages.
    """
    with db.atomic():
        moved = _move(run_id, [RunStatus.INTERRUPTED], RunStatus.QUEUED, cancel_requested=False)
        if moved:
            _stages_pending(run_id, None)
            run = Run.get_by_id(run_id)
            if run.kind == RunKind.PROCESS:
                _absorb_waiting_runs(run)
    return moved


def _absorb_waiting_runs(run: Run) -> None:
    waiting = [
        other
        for other in Run.select().where(
            Run.kind == RunKind.PROCESS,
            Run.manifest == run.manifest_id,
            Run.id != run.id,
            Run.status == RunStatus.QUEUED,
        )
        if other.mode == RunMode.MISSING or run.mode == RunMode.ALL
    ]
    if not waiting:
        return
    for other in waiting:
        if _move(
            other.id,
            [RunStatus.QUEUED],
            RunStatus.CANCELLED,
            finished_at=server_now(),
            error=f"joined run #{run.id}, which does its work",
        ):
            _stages_cancelled(other.id)
    take_in_new_images(run)


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


def fail(run_id: int, error: str) -> bool:
    """RUNNING | INTERRUPTED -> FAILED: the job crashed outside its stages and is not retried."""
    return _move(
        run_id,
        [RunStatus.RUNNING, RunStatus.INTERRUPTED],
        RunStatus.FAILED,
        finished_at=server_now(),
        error=error,
        lease_owner=None,
        lease_expires_at=None,
    )


def take_in_new_images(run: Run) -> None:
    """Images dropped since ``run`` first started join it (a drop found it waiting after a
    restart, or it takes over the run waiting behind it): it forgets the images it started
    with and runs every stage again, the stages skipping what is done. A run that never
    started needs nothing: it takes every image there is when it starts."""
    if ASSETS_UPTO not in (run.args or {}):
        return
    with db.atomic():
        args = {k: v for k, v in run.args.items() if k != ASSETS_UPTO}
        Run.update(args=args, updated_at=server_now()).where(Run.id == run.id).execute()
        StageProgress.update(status=StageStatus.PENDING, current_item=None, finished_at=None).where(
            StageProgress.run == run.id
        ).execute()


def _stages_cancelled(run_id: int) -> None:
    StageProgress.update(
        status=StageStatus.CANCELLED, current_item=None, finished_at=server_now()
    ).where(
        StageProgress.run == run_id,
        StageProgress.status.in_([StageStatus.PENDING, StageStatus.RUNNING]),
    ).execute()


def _stages_pending(run_id: int, message: str | None) -> None:
    StageProgress.update(
        status=StageStatus.PENDING, current_item=None, finished_at=None, message=message
    ).where(StageProgress.run == run_id, StageProgress.status == StageStatus.RUNNING).execute()


# -- leases -------------------------------------------------------------------------------------
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


def lease_lapsed(
    run: Run, expired: bool, dead_pids: Iterable[int] = (), running_here: bool = False
) -> bool:
    """Whether the process running ``run`` is gone: its lease ``expired`` (judged by the database
    server's clock, see :func:`lease_expired`), or it ran on this host under a pid that is dead
    or listed in ``dead_pids`` (a previous daemon's, reused since). At start-up this process's
    own pid on a run is a previous process's; a worker looking while it runs (``running_here``)
    knows its own runs are alive."""
    if expired:
        return True
    host, _, pid = (run.lease_owner or "").rpartition(":")
    if run.lease_owner is None:  # a row from before leases: only the pid is known
        host, pid = _HOST, str(run.worker_pid or "")
    if host != _HOST:
        return False  # another machine's process: only its lease expiry tells
    pid_number = int(pid) if pid.isdigit() else None
    if pid_number == os.getpid():
        return not running_here
    return pid_number in set(dead_pids) or not pid_alive(pid_number)


def lease_expired():
    """SQL: the run's lease has run out by the database server's clock (never a host's: two
    machines whose clocks disagree by more than a lease would otherwise take live runs over)."""
    return Run.lease_expires_at.is_null(False) & (Run.lease_expires_at < server_now())


def recover_abandoned(dead_pids: Iterable[int] = (), running_here: bool = False) -> list[int]:
    """Start-up of a worker (or, with ``running_here``, a worker sharing the queue with others,
    looking while it runs): RUNNING runs whose lease lapsed are interrupted (or cancelled, when
    a person had asked for it) and every INTERRUPTED run is queued again. Returns the ids queued
    again. A run taken over because its lease expired is taken only if it is still expired when
    the UPDATE runs: a holder that renewed in between keeps it."""
    dead_pids = [pid for pid in dead_pids if pid]
    requeued = []
    candidates = list(
        Run.select(Run, lease_expired().alias("expired")).where(
            Run.status.in_([RunStatus.RUNNING, RunStatus.INTERRUPTED])
        )
    )
    for run in candidates:
        if run.status == RunStatus.RUNNING:
            expired = bool(run.expired)
            if not lease_lapsed(run, expired, dead_pids, running_here):
                continue
            still = lease_expired() if expired and run.lease_owner else None
            holder = run.lease_owner or f"pid {run.worker_pid}"
            if run.cancel_requested:
                with db.atomic():
                    if _move(
                        run.id,
                        [RunStatus.RUNNING],
                        RunStatus.CANCELLED,
                        holder=run.lease_owner or "",
                        also=still,
                        finished_at=server_now(),
                        error="cancelled (its process had died)",
                        lease_owner=None,
                        lease_expires_at=None,
                    ):
                        _stages_cancelled(run.id)
                continue
            if not _interrupt(
                run.id,
                f"{holder} is gone; resumes where it stopped",
                run.lease_owner or "",
                also=still,
            ):
                continue
            log.warning("run #%s was running under %s, which is gone", run.id, holder)
        if requeue(run.id):
            requeued.append(run.id)
    return requeued


@contextmanager
def lease_kept(
    run_id: int,
    owner: str | None = None,
    every_s: float = LEASE_RENEW_S,
    lease_s: float = LEASE_S,
    on_lost: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Renew the lease of ``run_id`` from a background thread while the block runs. If the lease
    is lost (another process recovered the run), or the database stays out of reach for longer
    than the lease (so another process may have taken the run meanwhile), ``on_lost`` is called
    so the work stops. An outage is logged when it begins and when it ends, not at every try."""
    owner = owner or this_owner()
    done = threading.Event()

    def keep() -> None:
        renewed_at = time.monotonic()
        failing_since: float | None = None
        try:
            while not done.wait(every_s if failing_since is None else min(every_s, 2.0)):
                try:
                    held = renew(run_id, owner, lease_s)
                except Exception as exc:  # an unreachable database: try again
                    if failing_since is None:
                        failing_since = time.monotonic()
                        log.warning(
                            "could not renew the lease of run #%s (%s); retrying", run_id, exc
                        )
                    if time.monotonic() - renewed_at < lease_s:
                        continue
                    log.warning(
                        "run #%s: no lease renewal for %.0f s (the lease's length): "
                        "giving the run up, another process may take it over",
                        run_id,
                        time.monotonic() - renewed_at,
                    )
                    held = False
                else:
                    if held and failing_since is not None:
                        log.info(
                            "lease of run #%s renewed again after %.0f s",
                            run_id,
                            time.monotonic() - failing_since,
                        )
                    failing_since = None
                if held:
                    renewed_at = time.monotonic()
                    continue
                if failing_since is None:
                    log.warning("run #%s is no longer leased to %s; stopping it", run_id, owner)
                if on_lost is not None:
                    on_lost()
                return
        finally:
            db.close()  # this thread's own connection

    thread = threading.Thread(target=keep, name=f"lease-run-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


# -- reading ------------------------------------------------------------------------------------
def latest_run(manifest_id: int | None = None) -> Run | None:
    query = Run.select()
    if manifest_id is not None:
        query = query.where(Run.manifest == manifest_id)
    return query.order_by(Run.id.desc()).first()


def stage_rows(run_id: int) -> list[StageProgress]:
    return list(
        StageProgress.select().where(StageProgress.run == run_id).order_by(StageProgress.position)
    )
