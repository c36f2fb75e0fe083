"""The job queue of a project: builds its Huey instance, and nothing else.

As huey's docs/imports.rst lays it out: this module builds the Huey object, daemon.tasks
registers the tasks on it, and whoever enqueues (daemon.client) or consumes (daemon.main)
imports daemon.tasks. One queue, ``pipeline``: its consumer has exactly one worker, so GPU work
runs one job at a time, and Huey's priorities decide which queued job goes next (a reprocess a
person asked for jumps ahead of bulk work). Ingesting needs no queue: the daemon's watcher does
it in its own thread.

Storage is chosen by ``Settings.queue_url``: none means ``PROJECT/.vidpipe/queue.db`` (SQLite,
one file per project); ``redis://host:port/db`` uses Huey's Redis storage with priorities, so
workers on several GPU boxes can share one queue. The queue is only a wake-up list of run ids:
the project database (Run rows) is the source of truth, and the daemon rebuilds missing queue
entries from it on start-up. Entries are plain JSON (daemon.queue_format), never pickles: a
queue file that came with a project folder cannot run code.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlparse

from huey import Huey, MemoryHuey, SqliteHuey

from vidpipe.config.settings import Settings
from vidpipe.store.database import check_sqlite_files
from vidpipe.errors import ConfigError
from vidpipe.store.project import Project

from daemon.queue_format import PlainDataSerializer, plain_data_class

PIPELINE = "pipeline"
#: How long the consumer may leave a queue unpolled while idle; bounds job pickup latency.
MAX_POLL_DELAY_S = 0.2
#: SQLite busy wait for the queue file, seconds (the daemon, TUI and CLI all enqueue).
SQLITE_TIMEOUT_S = 30

_immediate_default = False


def use_immediate(enabled: bool = True) -> None:
    """Tests: make every queue built in this process run tasks at once, in the caller (Huey's
    immediate mode with in-memory storage)."""
    global _immediate_default
    _immediate_default = enabled


def runs_immediately(immediate: bool | None = None) -> bool:
    return _immediate_default if immediate is None else immediate


def make_huey(project: Project, settings: Settings, immediate: bool | None = None) -> Huey:
    """The Huey instance of ``project``'s queue (tasks not registered yet)."""
    role = PIPELINE
    url = settings.queue_url
    if runs_immediately(immediate):
        return MemoryHuey(f"vidpipe.{role}", immediate=True, results=False)
    if not url or url.startswith("sqlite"):
        path = Path(url[len("sqlite:///") :]) if url else project.queue_path
        path.parent.mkdir(parents=True, exist_ok=True)
        check_sqlite_files(path)  # SQLite follows a symlink planted at the queue's name
        # nofollow: a reconnection never opens a symlink swapped in at the name meanwhile.
        return plain_data_class(SqliteHuey)(
            f"vidpipe.{role}",
            filename=f"file:{quote(str(path))}?nofollow=1",
            uri=True,
            results=False,
            timeout=SQLITE_TIMEOUT_S,
            serializer=PlainDataSerializer(),
        )
    if urlparse(url).scheme in ("redis", "rediss", "unix"):
        # PriorityRedisHuey keeps interactive-before-bulk ordering; the project name keeps
        # projects apart on one server.
        from huey import PriorityRedisHuey

        from vidpipe.extras import require

        require("scale", "a Redis queue_url", ("redis",))

        return plain_data_class(PriorityRedisHuey)(
            f"vidpipe.{project.name}.{role}",
            url=url,
            results=False,
            serializer=PlainDataSerializer(),
        )
    raise ConfigError(f"unsupported queue_url {url!r} (leave it empty for SQLite, or redis://...)")
