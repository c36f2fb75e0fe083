"""The run state machine (vidpipe.pipeline.runs): every transition, the ones it refuses, leases, and a
shutdown that never shows CANCELLED, on a real SQLite project database.

A trigger log records every status the database ever holds for a run or a stage (a reader
polling might miss a state that lasts a millisecond; the trigger cannot)."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest

from vidpipe.pipeline import runs
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.store.models import (
    Manifest,
    Run,
    RunKind,
    RunMode,
    RunStatus,
    StageProgress,
    StageStatus,
    db,
    utcnow,
)
from vidpipe.pipeline.stages.base import Stage, StageName
from vidpipe.pipeline.stages.tags import TagStage
from vidpipe.pipeline.stopping import StopReason, StopToken
from support.status_log import install_status_log, logged

DEAD_PID = 2**22 + 12345  # above the kernel's pid_max: never a live process

QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.DONE,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
    RunStatus.INTERRUPTED,
)


@pytest.fixture
def manifest(session):
    return Manifest.create(name="m", folder="m")


def new_run(manifest, **kwargs) -> Run:
    return runs.create_run(RunKind.PROCESS, manifest_id=manifest.id, **kwargs)


def status(run: Run) -> RunStatus:
    return Run.get_by_id(run.id).status


def in_state(manifest, wanted: RunStatus) -> Run:
    """A run brought to ``wanted`` through the state machine itself."""
    run = new_run(manifest)
    if wanted == QUEUED:
        return run
    if wanted == CANCELLED:
        assert runs.cancel(run.id)
        return run
    assert runs.claim(run.id)
    if wanted in (DONE, FAILED):
        assert runs.finish(run.id, wanted)
    elif wanted == INTERRUPTED:
        assert runs.interrupt(run.id, "stopping")
    return run


# -- create and claim ---------------------------------------------------------------------------
def test_create_makes_a_queued_run_with_pending_stages_and_enum_fields(manifest):
    run = new_run(manifest, mode="all")
    stored = Run.get_by_id(run.id)
    assert stored.status == QUEUED and stored.kind == RunKind.PROCESS
    assert stored.mode == RunMode.ALL
    assert {s.status for s in runs.stage_rows(run.id)} == {StageStatus.PENDING}
    with pytest.raises(ValueError):
        runs.create_run("ingest", manifest_id=manifest.id)
    with pytest.raises(ValueError):
        new_run(manifest, mode="some")


def test_claim_takes_a_queued_run_with_a_lease(manifest):
    run = new_run(manifest)
    before = utcnow()
    assert runs.claim(run.id)
    claimed = Run.get_by_id(run.id)
    assert claimed.status == RUNNING and claimed.attempts == 1
    assert claimed.lease_owner == runs.this_owner() and claimed.worker_pid == os.getpid()
    assert claimed.lease_expires_at >= before + timedelta(seconds=runs.LEASE_S - 1)
    assert claimed.started_at is not None and claimed.finished_at is None
    assert runs.holds(run.id) and not runs.holds(run.id, owner="elsewhere:1")


@pytest.mark.parametrize("state", [RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED])
def test_claim_is_refused_unless_queued(manifest, state):
    run = in_state(manifest, state)
    before = Run.get_by_id(run.id)
    assert not runs.claim(run.id)
    after = Run.get_by_id(run.id)
    assert (after.status, after.attempts, after.lease_owner) == (
        before.status,
        before.attempts,
        before.lease_owner,
    )


def test_racing_claims_have_one_winner(manifest):
    run = new_run(manifest)
    results, start = [], threading.Barrier(6)

    def claim(index):
        start.wait()
        try:
            results.append(runs.claim(run.id, owner=f"host:{index}"))
        finally:
            db.close()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]
    assert Run.get_by_id(run.id).attempts == 1


# -- lease --------------------------------------------------------------------------------------
def test_renew_extends_only_the_holders_lease(manifest):
    run = in_state(manifest, RUNNING)
    Run.update(lease_expires_at=utcnow()).where(Run.id == run.id).execute()
    assert runs.renew(run.id, lease_s=120)
    assert Run.get_by_id(run.id).lease_expires_at > utcnow() + timedelta(seconds=100)
    assert not runs.renew(run.id, owner="elsewhere:1")
    assert runs.finish(run.id, DONE)
    assert not runs.renew(run.id)  # ended: nothing to renew


def test_lease_kept_renews_while_the_block_runs_and_reports_a_lost_lease(manifest):
    run = in_state(manifest, RUNNING)
    Run.update(lease_expires_at=utcnow()).where(Run.id == run.id).execute()
    first = Run.get_by_id(run.id).lease_expires_at
    lost = threading.Event()
    with runs.lease_kept(run.id, every_s=0.01, lease_s=300, on_lost=lost.set):
        deadline = time.monotonic() + 30
        while Run.get_by_id(run.id).lease_expires_at == first and time.monotonic() < deadline:
            time.sleep(0.01)
        assert Run.get_by_id(run.id).lease_expires_at > first + timedelta(seconds=200)
        # Another process recovers the run (as if this one had died): the keeper notices.
        Run.update(lease_owner="elsewhere:1").where(Run.id == run.id).execute()
        assert lost.wait(30)


# -- finish -------------------------------------------------------------------------------------
@pytest.mark.parametrize("end", [DONE, FAILED, CANCELLED])
def test_finish_ends_a_running_run_and_drops_the_lease(manifest, end):
    run = in_state(manifest, RUNNING)
    StageProgress.update(status=StageStatus.DONE).where(
        StageProgress.run == run.id, StageProgress.position == 0
    ).execute()
    assert runs.finish(run.id, end, None if end == DONE else "why")
    ended = Run.get_by_id(run.id)
    assert ended.status == end and ended.finished_at is not None
    assert (ended.lease_owner, ended.lease_expires_at) == (None, None)
    stages = [s.status for s in runs.stage_rows(run.id)]
    assert stages[0] == StageStatus.DONE  # finished work stays finished
    if end == CANCELLED:
        assert set(stages[1:]) == {StageStatus.CANCELLED}


@pytest.mark.parametrize("state", [QUEUED, DONE, FAILED, CANCELLED, INTERRUPTED])
def test_finish_is_refused_unless_running(manifest, state):
    run = in_state(manifest, state)
    assert not runs.finish(run.id, DONE)
    assert status(run) == state


def test_finish_is_refused_to_a_process_that_lost_the_lease(manifest):
    run = in_state(manifest, RUNNING)
    assert not runs.finish(run.id, DONE, owner="elsewhere:1")
    assert status(run) == RUNNING
    with pytest.raises(ValueError):
        runs.finish(run.id, QUEUED)


# -- cancel -------------------------------------------------------------------------------------
def test_cancel_of_a_queued_run_is_immediate(manifest):
    run = new_run(manifest)
    assert runs.cancel(run.id)
    assert status(run) == CANCELLED
    assert {s.status for s in runs.stage_rows(run.id)} == {StageStatus.CANCELLED}
    assert not runs.claim(run.id)


def test_cancel_of_a_running_run_is_a_request(manifest):
    run = in_state(manifest, RUNNING)
    assert runs.cancel(run.id)
    stored = Run.get_by_id(run.id)
    assert stored.status == RUNNING and stored.cancel_requested


@pytest.mark.parametrize("state", [DONE, FAILED, CANCELLED, INTERRUPTED])
def test_cancel_is_refused_once_ended(manifest, state):
    run = in_state(manifest, state)
    assert not runs.cancel(run.id)
    assert status(run) == state and not Run.get_by_id(run.id).cancel_requested


# -- interrupt, requeue, fail -------------------------------------------------------------------
def test_interrupt_puts_the_current_stage_back_to_pending(manifest):
    run = in_state(manifest, RUNNING)
    rows = runs.stage_rows(run.id)
    StageProgress.update(status=StageStatus.DONE).where(StageProgress.id == rows[0].id).execute()
    StageProgress.update(status=StageStatus.RUNNING, current_item="x").where(
        StageProgress.id == rows[1].id
    ).execute()
    assert runs.interrupt(run.id, "the process is stopping")
    stored = Run.get_by_id(run.id)
    assert stored.status == INTERRUPTED and stored.error == "the process is stopping"
    assert stored.finished_at is None and stored.lease_owner is None
    rows = runs.stage_rows(run.id)
    assert rows[0].status == StageStatus.DONE
    assert rows[1].status == StageStatus.PENDING and rows[1].current_item is None


@pytest.mark.parametrize("state", [QUEUED, DONE, FAILED, CANCELLED, INTERRUPTED])
def test_interrupt_is_refused_unless_running(manifest, state):
    run = in_state(manifest, state)
    assert not runs.interrupt(run.id, "x")
    assert status(run) == state


def test_interrupt_is_refused_to_a_process_that_lost_the_lease(manifest):
    run = in_state(manifest, RUNNING)
    assert not runs.interrupt(run.id, "x", owner="elsewhere:1")
    assert status(run) == RUNNING


def test_requeue_takes_an_interrupted_run_back_and_claim_counts_the_attempt(manifest):
    run = in_state(manifest, INTERRUPTED)
    assert runs.requeue(run.id)
    assert status(run) == QUEUED
    assert runs.claim(run.id)
    assert Run.get_by_id(run.id).attempts == 2


@pytest.mark.parametrize("state", [QUEUED, RUNNING, DONE, FAILED, CANCELLED])
def test_requeue_is_refused_unless_interrupted(manifest, state):
    run = in_state(manifest, state)
    assert not runs.requeue(run.id)
    assert status(run) == state


@pytest.mark.parametrize("state", [RUNNING, INTERRUPTED])
def test_fail_gives_up_on_a_running_or_interrupted_run(manifest, state):
    run = in_state(manifest, state)
    assert runs.fail(run.id, "RuntimeError: boom")
    stored = Run.get_by_id(run.id)
    assert stored.status == FAILED and stored.error == "RuntimeError: boom"


@pytest.mark.parametrize("state", [QUEUED, DONE, FAILED, CANCELLED])
def test_fail_is_refused_otherwise(manifest, state):
    run = in_state(manifest, state)
    assert not runs.fail(run.id, "x")
    assert status(run) == state


# -- recovery of abandoned runs -----------------------------------------------------------------
def test_recovery_requeues_what_a_dead_process_left_and_leaves_live_runs(session):
    # One manifest each: a process run going back to the queue takes over its manifest's
    # waiting runs (tests/unit/test_one_job_per_manifest.py), which is not what is looked at here.
    here = runs._HOST
    count = iter(range(100))

    def new_run(_):
        index = next(count)
        return runs.create_run(
            RunKind.PROCESS, manifest_id=Manifest.create(name=f"m{index}", folder=f"m{index}").id
        )

    manifest = None
    dead = new_run(manifest)
    assert runs.claim(dead.id, owner=f"{here}:{DEAD_PID}")
    alive = new_run(manifest)
    assert runs.claim(alive.id, owner=f"{here}:{os.getppid()}")
    remote = new_run(manifest)  # another machine's worker, lease current
    assert runs.claim(remote.id, owner="gpu-box-2:77")
    expired = new_run(manifest)  # another machine's worker that stopped renewing
    assert runs.claim(expired.id, owner="gpu-box-3:88", lease_s=-1)
    previous = new_run(manifest)  # the previous daemon's pid, reused by a live process since
    assert runs.claim(previous.id, owner=f"{here}:{os.getppid()}")
    cancelled = new_run(manifest)  # a person cancelled it, then its process died
    assert runs.claim(cancelled.id, owner=f"{here}:{DEAD_PID}")
    assert runs.cancel(cancelled.id)
    interrupted = new_run(manifest)
    assert runs.claim(interrupted.id) and runs.interrupt(interrupted.id, "stopping")

    found = runs.recover_abandoned()
    assert sorted(found) == sorted([dead.id, expired.id, interrupted.id])
    assert [status(r) for r in (dead, alive, remote, expired, cancelled, interrupted)] == [
        QUEUED,
        RUNNING,
        RUNNING,
        QUEUED,
        CANCELLED,
        QUEUED,
    ]
    assert runs.recover_abandoned() == []

    # A daemon restarting knows its predecessor's pid: a run under it is abandoned even though
    # a live process has that pid now.
    assert runs.recover_abandoned(dead_pids=[os.getppid()]) == [alive.id, previous.id]


# -- the stop token and the engine --------------------------------------------------------------
def test_stop_token_a_cancel_wins_over_a_shutdown():
    token = StopToken()
    assert not token.is_set() and token.reason is None
    token.shutdown()
    assert token.is_set() and token.reason == StopReason.SHUTDOWN
    token.cancel()
    assert token.reason == StopReason.CANCEL
    token.shutdown()
    assert token.reason == StopReason.CANCEL


class StopsHalfway(Stage):
    """A stage that, after its first item, has the process stop (or a person cancel)."""

    name = StageName.DETECTION

    def __init__(self, act):
        self.act = act

    def run(self, ctx, progress):
        progress.start(2)
        progress.advance(1, item="first")
        self.act(ctx)
        ctx.check_cancelled()
        progress.advance(1, item="second")
        return "both"


def engine_with(session, act) -> ManifestingEngine:
    return ManifestingEngine(
        session.project, session.settings, stages=[StopsHalfway(act), TagStage()]
    )


def test_shutdown_ends_the_run_interrupted_and_never_cancelled(session, manifest):
    install_status_log(db.obj)
    token = StopToken()
    run = engine_with(session, lambda ctx: token.shutdown()).process_manifest(manifest, stop=token)
    assert run.status == INTERRUPTED and "resumes" in run.error
    assert logged(db.obj, "run", run.id) == [QUEUED, RUNNING, INTERRUPTED]
    assert CANCELLED not in logged(db.obj, "stage", run.id)
    assert {s.stage: s.status for s in runs.stage_rows(run.id)} == {
        StageName.DETECTION: StageStatus.PENDING,
        StageName.TAGS: StageStatus.PENDING,
    }

    assert runs.requeue(run.id)
    again = engine_with(session, lambda ctx: None).process_manifest(manifest, run=run)
    assert again.status == DONE and again.attempts == 2
    assert logged(db.obj, "run", run.id) == [QUEUED, RUNNING, INTERRUPTED, QUEUED, RUNNING, DONE]


def test_a_persons_cancel_wins_over_a_shutdown(session, manifest):
    token = StopToken()

    def both(ctx):
        runs.cancel(ctx.run.id)  # through the database, as the TUI does
        token.shutdown()

    run = engine_with(session, both).process_manifest(manifest, stop=token)
    assert run.status == CANCELLED
    assert {s.status for s in runs.stage_rows(run.id)} == {StageStatus.CANCELLED}


def test_the_engine_does_not_run_a_run_it_cannot_claim(session, manifest):
    ran = []
    run = in_state(manifest, DONE)
    result = engine_with(session, ran.append).process_manifest(manifest, run=run)
    assert result.status == DONE and ran == []
    other = new_run(manifest)
    assert runs.claim(other.id, owner="elsewhere:1")
    assert engine_with(session, ran.append).process_manifest(manifest, run=other).status == RUNNING
    assert ran == []
