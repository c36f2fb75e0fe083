"""The queue's tasks, registered on the Huey instance daemon.queue builds: thin, queued as
plain JSON of run ids, with stable names.

Names are part of the on-disk queue format (a queued message refers to its task by name), so
never rename one; add a new task instead. Task bodies live in :mod:`daemon.job_runner` and return the
run's status; nothing here imports the ML stack, so enqueueing (TUI, CLI) stays light.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from huey import Huey

from vidpipe.config.settings import Settings
from vidpipe.store.models import Run, RunKind
from vidpipe.store.project import Project

from daemon import job_runner
from daemon.queue import PIPELINE, make_huey, runs_immediately
from daemon.queue_format import PROCESS_MANIFEST, REPROCESS_ASSET

#: A pipeline job that crashed outside the stages (which record their own failures) is retried
#: twice, 10 s then 20 s later; then the run is marked failed.
PIPELINE_RETRIES = 2
PIPELINE_RETRY_DELAY_S = 10


@dataclass
class TaskSet:
    """A project's queue with vidpipe's tasks registered on it."""

    huey: Huey
    process_manifest: object
    reprocess_asset: object

    def enqueue_run(self, run: Run) -> None:
        task = self.reprocess_asset if run.kind == RunKind.REPROCESS else self.process_manifest
        task(run.id, priority=run.priority)

    def queued_run_ids(self) -> set[int]:
        """The run ids waiting in the queue (entries of other shapes are skipped)."""
        return {
            task.args[0]
            for task in self.huey.pending()
            if task.args and isinstance(task.args[0], int)
        }

    def counts(self) -> dict[str, int]:
        return {PIPELINE: self.huey.pending_count()}


def register(huey: Huey) -> TaskSet:
    """Register vidpipe's tasks on ``huey`` and return their wrappers."""

    @huey.task(
        name=PROCESS_MANIFEST,
        retries=PIPELINE_RETRIES,
        retry_delay=PIPELINE_RETRY_DELAY_S,
        retry_backoff=2,
        context=True,
    )
    def process_manifest(run_id: int, task=None):
        return job_runner.run_pipeline_job(run_id, retries_left=task.retries if task else 0)

    @huey.task(
        name=REPROCESS_ASSET,
        retries=PIPELINE_RETRIES,
        retry_delay=PIPELINE_RETRY_DELAY_S,
        retry_backoff=2,
        context=True,
    )
    def reprocess_asset(run_id: int, task=None):
        return job_runner.run_pipeline_job(run_id, retries_left=task.retries if task else 0)

    return TaskSet(huey, process_manifest, reprocess_asset)


_task_sets: dict[tuple[Path, bool], TaskSet] = {}
_task_sets_lock = threading.Lock()


def task_set(
    project: Project, settings: Settings | None = None, immediate: bool | None = None
) -> TaskSet:
    """The queue of ``project`` with the tasks registered: one per project in a process."""
    key = (project.root, runs_immediately(immediate))
    with _task_sets_lock:
        tasks = _task_sets.get(key)
        if tasks is None:
            huey = make_huey(project, settings or project.settings(), key[1])
            tasks = _task_sets[key] = register(huey)
        return tasks


def forget_task_sets() -> None:
    """Close and drop them (tests that open several projects, or switch to immediate mode)."""
    with _task_sets_lock:
        for tasks in _task_sets.values():
            try:
                tasks.huey.storage.close()
            except Exception:
                pass
        _task_sets.clear()
