"""The queue's tasks: thin, queued as plain JSON of ids or paths, with stable names.

Names are part of the on-disk queue format (a queued message refers to its task by name), so
never rename one; add a new task instead. Task bodies live in :mod:`daemon.jobs`; nothing here
imports the ML stack, so enqueueing (TUI, CLI) stays light.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidpipe.models import Run, RunKind

from daemon import jobs

PROCESS_MANIFEST = "vidpipe.process_manifest"
REPROCESS_ASSET = "vidpipe.reprocess_asset"
INGEST_PATH = "vidpipe.ingest_path"

#: A pipeline job that crashed outside the stages (which record their own failures) is retried
#: twice, 10 s then 20 s later; then the run is marked failed.
PIPELINE_RETRIES = 2
PIPELINE_RETRY_DELAY_S = 10


@dataclass
class TaskSet:
    process_manifest: object
    reprocess_asset: object
    ingest_path: object

    def enqueue_run(self, run: Run) -> None:
        task = self.reprocess_asset if run.kind == RunKind.REPROCESS else self.process_manifest
        task(run.id, priority=run.priority)


def register(queues) -> TaskSet:
    """Register the tasks on ``queues`` (a daemon.queue.Queues) and return their wrappers."""

    @queues.pipeline.task(name=PROCESS_MANIFEST, retries=PIPELINE_RETRIES,
                          retry_delay=PIPELINE_RETRY_DELAY_S, retry_backoff=2, context=True)
    def process_manifest(run_id: int, task=None):
        return jobs.run_pipeline_job(run_id, retries_left=task.retries if task else 0)

    @queues.pipeline.task(name=REPROCESS_ASSET, retries=PIPELINE_RETRIES,
                          retry_delay=PIPELINE_RETRY_DELAY_S, retry_backoff=2, context=True)
    def reprocess_asset(run_id: int, task=None):
        return jobs.run_pipeline_job(run_id, retries_left=task.retries if task else 0)

    @queues.io.task(name=INGEST_PATH, retries=2, retry_delay=2, retry_backoff=2)
    def ingest_path(path: str):
        return jobs.ingest_job(path)

    return TaskSet(process_manifest, reprocess_asset, ingest_path)
