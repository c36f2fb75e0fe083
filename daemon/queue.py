"""The job queues of a project: two Huey instances on one storage.

* ``pipeline`` runs the GPU-heavy jobs (process a manifest, reprocess an asset). Its consumer has
  exactly one worker, so GPU work runs one job at a time, and Huey's priorities decide which
  queued job goes next: a reprocess a person asked for jumps ahead of bulk work.
* ``io`` runs cheap jobs (ingest a path) with a few workers, so an ingest never waits behind a
  long pipeline run.

Storage is chosen by ``Settings.queue_url``: none means ``PROJECT/.vidpipe/queue.db`` (SQLite,
one file per project); ``redis://host:port/db`` uses Huey's Redis storage with priorities, so
workers on several GPU boxes can share one queue. The queue is only a wake-up list of run ids:
the project database (Run rows) is the source of truth, and the daemon rebuilds missing queue
entries from it on start-up. Entries are plain JSON (daemon.queue_format), never pickles: a
queue file that came with a project folder cannot run code.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from huey import Huey, MemoryHuey, SqliteHuey

from vidpipe.config import Settings
from vidpipe.database import check_sqlite_files
from vidpipe.errors import ConfigError
from vidpipe.project import Project

from daemon.queue_format import PlainDataSerializer, plain_data_class

PIPELINE = "pipeline"
IO = "io"
#: How long the consumer may leave a queue unpolled while idle; bounds job pickup latency.
MAX_POLL_DELAY_S = 0.2
#: SQLite busy wait for the queue file, seconds (the daemon, TUI and CLI all enqueue).
SQLITE_TIMEOUT_S = 30


@dataclass
class Queues:
    pipeline: Huey
    io: Huey
    tasks: "object"  # daemon.tasks.TaskSet, set by daemon.tasks.register

    def all(self) -> list[Huey]:
        return [self.pipeline, self.io]

    def counts(self) -> dict[str, int]:
        return {PIPELINE: self.pipeline.pending_count(), IO: self.io.pending_count()}


def make_huey(project: Project, settings: Settings, role: str, immediate: bool = False) -> Huey:
    """One Huey instance for ``role`` (pipeline | io) of ``project``."""
    url = settings.queue_url
    if immediate:
        return MemoryHuey(f"vidpipe.{role}", immediate=True, results=False)
    if not url or url.startswith("sqlite"):
        path = Path(url[len("sqlite:///"):]) if url else project.queue_path
        path.parent.mkdir(parents=True, exist_ok=True)
        check_sqlite_files(path)  # SQLite follows a symlink planted at the queue's name
        return plain_data_class(SqliteHuey)(f"vidpipe.{role}", filename=str(path), results=False,
                                            timeout=SQLITE_TIMEOUT_S,
                                            serializer=PlainDataSerializer())
    if urlparse(url).scheme in ("redis", "rediss", "unix"):
        # Not exercised by the test-suite yet: needs a Redis server. PriorityRedisHuey keeps
        # interactive-before-bulk ordering; the project name keeps projects apart on one server.
        from huey import PriorityRedisHuey

        return plain_data_class(PriorityRedisHuey)(f"vidpipe.{project.name}.{role}", url=url,
                                                   results=False,
                                                   serializer=PlainDataSerializer())
    raise ConfigError(f"unsupported queue_url {url!r} (leave it empty for SQLite, or redis://...)")


_cache: dict[tuple[Path, bool], Queues] = {}
_cache_lock = threading.Lock()
_immediate_default = False


def use_immediate(enabled: bool = True) -> None:
    """Tests: make every queue of this process run tasks at once, in the caller (Huey's
    immediate mode with in-memory storage)."""
    global _immediate_default
    _immediate_default = enabled


def get_queues(project: Project, settings: Settings | None = None,
               immediate: bool | None = None) -> Queues:
    """The queues of ``project`` with every task registered; one instance per process."""
    from daemon import tasks

    immediate = _immediate_default if immediate is None else immediate
    key = (project.root, immediate)
    with _cache_lock:
        queues = _cache.get(key)
        if queues is None:
            settings = settings or project.settings()
            queues = Queues(make_huey(project, settings, PIPELINE, immediate),
                            make_huey(project, settings, IO, immediate), None)
            queues.tasks = tasks.register(queues)
            _cache[key] = queues
        return queues


def forget_queues() -> None:
    """Drop cached instances (tests that open several projects in one process)."""
    with _cache_lock:
        for queues in _cache.values():
            for huey in queues.all():
                try:
                    huey.storage.close()
                except Exception:  # noqa: BLE001 - closing a storage that never opened
                    pass
        _cache.clear()
