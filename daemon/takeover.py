"""Several daemons on one project (shared queue): the runs of a daemon that is gone are taken
over by the others.

A daemon killed on one machine leaves its run RUNNING under a lease it no longer renews
(vidpipe.pipeline.runs). Every daemon looks, each heartbeat, for runs whose lease lapsed (expired, or
held by a dead process of this machine) and for runs a daemon that stopped left INTERRUPTED;
they go back to QUEUED and into the shared queue, and whichever daemon takes one resumes it
where it stopped (the stages skip finished work). The look runs under a lock, so two daemons
never both take one run over.
"""

from __future__ import annotations

import logging

from vidpipe.ops import daemon_registry

from vidpipe.pipeline import runs
from vidpipe.store.database import serialize_writers
from vidpipe.store.clock import server_now
from vidpipe.store.models import Run, RunKind, RunStatus, db

log = logging.getLogger(__name__)

#: Advisory lock key of the take-over ("vidt").
TAKEOVER_LOCK_KEY = 0x76696474


def take_over_abandoned(tasks) -> list[int]:
    """Queue again (on ``tasks``, a daemon.tasks.TaskSet) the runs of daemons that are gone or
    stopped; returns their ids."""
    with db.atomic():
        serialize_writers(TAKEOVER_LOCK_KEY)
        taken = runs.recover_abandoned(running_here=True)
    for run_id in taken:
        run = Run.get_by_id(run_id)
        if run.status == RunStatus.QUEUED:
            log.warning("run #%s taken over: its daemon is gone or stopped", run_id)
            tasks.enqueue_run(run)
    return taken


def enqueue_lost_runs(tasks) -> list[int]:
    """QUEUED runs that have waited longer than a heartbeat can be late and are in no queue
    entry (a daemon took the entry and stopped before running it, or left it waiting while
    another run of its manifest ran) are queued again. A run queued twice runs once: the second
    claim finds it taken."""
    cutoff = server_now(-daemon_registry.STALE_S)
    waiting = list(
        Run.select().where(
            Run.status == RunStatus.QUEUED, Run.updated_at < cutoff, Run.kind.in_(list(RunKind))
        )
    )
    if not waiting:
        return []
    queued = tasks.queued_run_ids()
    lost = [run for run in waiting if run.id not in queued]
    for run in lost:
        tasks.enqueue_run(run)
    return [run.id for run in lost]
