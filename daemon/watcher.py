"""Watching the project folder: dropped files are ingested and processed with no command.

The observer thread (watchdog) only records paths. A worker thread decides when a file is
complete and ingests in batches:

* a file is *ready* when it has not changed (size and mtime) for ``stable_s``, or - faster - when
  the writer closed it (inotify's close-after-write) and it stayed unchanged for ``settle_s``
  since. A file arriving by rename (rsync's ``.name.XXXXXX`` -> ``name``, ``mv``) is complete by
  construction. A writer that closes between chunks may get a partial file ingested; its next
  write re-ingests the path (same path, new content), so the result is the same.
* a burst of drops becomes one "missing" process job per manifest, queued once the folder has
  been quiet for ``debounce_s`` (or after ``max_wait_s`` of continuous copying).
* deletes mark assets removed (never destroyed); renames and moves keep the asset (ingest
  follows the content hash to the new path, before the old path is looked at).
* ``.vidpipe/``, hidden and temporary names are ignored.

Where inotify runs out of watches or instances, the watcher says so (log and heartbeat) and
falls back to polling the folder.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.polling import PollingObserver

from vidpipe import imaging
from vidpipe.config.settings import Settings
from vidpipe.pipeline.ingest import iter_input_files, reconcile
from vidpipe.store.models import Asset, AssetState, Source
from vidpipe.store.project import STATE_DIRNAME, Project
from vidpipe.store.reconnect import OutageLog

from daemon.client import enqueue_processing
from daemon.ingesting import IngestOutcome, ingest_paths, is_watched

log = logging.getLogger(__name__)

#: After a failed ingest (or start-up reconcile), the paths are tried again this much later.
INGEST_RETRY_S = 5.0
RECONCILE_RETRY_S = 30.0

INOTIFY_LIMIT_NOTE = (
    "inotify limit reached ({error}); watching the folder by polling every {poll}s instead. "
    "Raise the limit for instant pick-up: sudo sysctl fs.inotify.max_user_watches=524288 "
    "fs.inotify.max_user_instances=1024"
)


@dataclass
class _Candidate:
    size: int = -1
    mtime_ns: int = -1
    last_change: float = 0.0
    closed: bool = False  # the writer closed it (or it arrived by rename) after the last change


class _Inbox(FileSystemEventHandler):
    """Runs in the observer thread: filter cheaply, hand paths to the worker."""

    def __init__(self, project: Project, wake: threading.Event):
        self.state_prefix = str(project.root / STATE_DIRNAME)
        self.root = str(project.root)
        # (kind, path, is_directory, when): stamped here, because the worker may be busy
        # ingesting a burst for a while before it drains them.
        self.events: deque[tuple[str, str, bool, float]] = deque()
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("opened", "closed_no_write", "attrib"):
            return
        when = time.monotonic()
        paths = [(kind, os.fsdecode(event.src_path))]
        if kind == "moved":
            paths = [
                ("deleted", os.fsdecode(event.src_path)),
                ("moved_in", os.fsdecode(event.dest_path)),
            ]
        for what, path in paths:
            if path.startswith(self.state_prefix) or path == self.root:
                continue
            self.events.append((what, path, event.is_directory, when))
        self.wake.set()


class FolderIngester:
    """The daemon's watch on the project folder: ingests what is dropped in (once complete),
    marks what is deleted removed, and queues the processing of the manifests that changed."""

    def __init__(
        self,
        project: Project,
        settings: Settings,
        stable_s: float = 1.0,
        settle_s: float = 0.15,
        debounce_s: float = 0.4,
        max_wait_s: float = 10.0,
        poll_s: float = 1.0,
        tick_s: float = 0.05,
        force_polling: bool = False,
        observer_factory: Callable[[], object] | None = None,
        on_ingested: Callable[[IngestOutcome], None] | None = None,
        queue_jobs: bool = True,
        retry_s: float = INGEST_RETRY_S,
        reconcile_retry_s: float = RECONCILE_RETRY_S,
    ):
        self.project = project
        self.settings = settings
        self.stable_s = stable_s
        self.settle_s = settle_s
        self.debounce_s = debounce_s
        self.max_wait_s = max_wait_s
        self.poll_s = poll_s
        self.tick_s = tick_s
        self.force_polling = force_polling
        self.observer_factory = observer_factory
        self.on_ingested = on_ingested
        self.queue_jobs = queue_jobs
        self.retry_s = retry_s
        self.reconcile_retry_s = reconcile_retry_s
        self.mode: str | None = None  # "inotify" | "polling"
        self.note: str | None = None
        self._reconcile_problem: str | None = None
        self._ingest_problem: str | None = None
        self._tick_outage = OutageLog(log, "watcher tick")
        self._reconcile_due: float | None = None  # when the start-up reconcile is (re)tried
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._inbox = _Inbox(project, self._wake)
        self._observer = None
        self._thread: threading.Thread | None = None
        self._candidates: dict[str, _Candidate] = {}
        self._gone: dict[str, float] = {}  # path -> when it was seen deleted
        self._dirty: dict[int, float] = {}  # manifest id -> first ingest not yet queued
        self._last_ingest = 0.0
        self.ready = threading.Event()  # set after the start-up reconcile

    # -- life cycle ------------------------------------------------------------------------------
    def start(self, reconcile_first: bool = True) -> None:
        self._observer = self._start_observer()
        self._thread = threading.Thread(
            target=self._run, args=(reconcile_first,), name="vidpipe-watcher", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
        if self._thread is not None:
            self._thread.join(timeout)

    def _start_observer(self):
        if not self.force_polling:
            try:
                observer = self._new_native_observer()
                observer.schedule(self._inbox, str(self.project.root), recursive=True)
                observer.start()
                self.mode = (
                    "inotify" if "Inotify" in type(observer).__name__ else type(observer).__name__
                )
                log.info("watching %s (%s)", self.project.root, self.mode)
                return observer
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                    raise
                self.note = INOTIFY_LIMIT_NOTE.format(error=exc.strerror or exc, poll=self.poll_s)
                log.warning(self.note)
        observer = PollingObserver(timeout=self.poll_s)
        observer.schedule(self._inbox, str(self.project.root), recursive=True)
        observer.start()
        self.mode = "polling"
        log.info("watching %s by polling every %ss", self.project.root, self.poll_s)
        return observer

    def _new_native_observer(self):
        if self.observer_factory is not None:
            return self.observer_factory()
        from watchdog.observers import Observer

        return Observer()

    # -- worker ------------------------------------------------------------------------------------
    def _run(self, reconcile_first: bool) -> None:
        self._reconcile_due = 0.0 if reconcile_first else None
        self._try_reconcile()
        self.ready.set()
        while not self._stop.is_set():
            self._wake.wait(self.tick_s)
            self._wake.clear()
            self._try_reconcile()
            try:
                self._tick()
            except Exception as exc:  # the next tick tries again
                self._tick_outage.failed(exc)
            else:
                self._tick_outage.succeeded()

    def _try_reconcile(self) -> None:
        """The start-up reconcile, retried every ``reconcile_retry_s`` until it succeeds; while it
        fails, :attr:`problem` says why (the heartbeat carries it to `daemon status` and the TUI)."""
        if self._reconcile_due is None or time.monotonic() < self._reconcile_due:
            return
        try:
            self._reconcile()
        except Exception as exc:  # the watcher must keep running; it says why
            if self._reconcile_problem is None:  # once, not at every retry
                log.exception(
                    "start-up reconcile failed; retrying every %ss", self.reconcile_retry_s
                )
            self._reconcile_problem = (
                f"start-up scan of the folder failed "
                f"({type(exc).__name__}: {exc}); retrying every "
                f"{self.reconcile_retry_s:g}s"
            )
            self._reconcile_due = time.monotonic() + self.reconcile_retry_s
        else:
            self._reconcile_problem = None
            self._reconcile_due = None

    def _reconcile(self) -> None:
        summary = reconcile(self.project, self.settings)
        changed = len(summary.results) - summary.count("unchanged")
        log.info(
            "start-up reconcile: %d file(s) new or changed, %d removed",
            changed,
            len(summary.removed),
        )
        pending = {
            row[0]
            for row in Asset.select(Asset.manifest)
            .where(Asset.state == AssetState.PENDING, Asset.source == Source.UPLOADED)
            .tuples()
        }
        pending |= {a.manifest_id for a in summary.removed}
        if pending and self.queue_jobs:
            enqueue_processing(self.project.root, pending, requested_by="watcher")

    def _tick(self) -> None:
        now = time.monotonic()
        self._drain()
        ready = []
        for path, candidate in list(self._candidates.items()):
            verdict = self._check(path, candidate, now)
            if verdict != "waiting":
                del self._candidates[path]
            if verdict == "ready":
                ready.append(path)
            elif verdict == "missing":
                self._gone[path] = now  # deleted or renamed away before it settled
        gone = [p for p, t in self._gone.items() if now - t >= self.settle_s * 2]
        for path in gone:
            del self._gone[path]
        if ready or gone:
            try:
                outcome = ingest_paths(
                    self.project,
                    self.settings,
                    [Path(p) for p in ready],
                    removed=[Path(p) for p in gone],
                )
            except Exception as exc:
                # Nothing is forgotten: the paths wait for the next try (database busy or
                # read-only for a while, a disk error).
                if self._ingest_problem is None:  # once per outage, not at every retry
                    log.warning(
                        "ingest of %d path(s) failed (%s: %s); retrying every %gs",
                        len(ready) + len(gone),
                        type(exc).__name__,
                        exc,
                        self.retry_s,
                    )
                self._ingest_problem = (
                    f"ingest of {len(ready) + len(gone)} path(s) failed "
                    f"({type(exc).__name__}: {exc}); retrying every "
                    f"{self.retry_s:g}s"
                )
                retry_at = now + self.retry_s
                for path in ready:
                    self._candidates.setdefault(path, _Candidate(last_change=retry_at, closed=True))
                for path in gone:
                    self._gone.setdefault(path, retry_at)
                return
            self._ingest_problem = None
            if outcome.ingested or outcome.removed:
                log.info("ingested %d file(s), %d removed", outcome.ingested, outcome.removed)
            for manifest_id in outcome.manifests:
                self._dirty.setdefault(manifest_id, now)
            self._last_ingest = time.monotonic()
            if self.on_ingested is not None:
                self.on_ingested(outcome)
        self._queue_due(time.monotonic())

    def _drain(self) -> None:
        while self._inbox.events:
            kind, path, is_dir, when = self._inbox.events.popleft()
            if kind == "deleted":
                self._candidates.pop(path, None)
                if is_watched(self.project, Path(path)):
                    self._gone[path] = when
                continue
            if not is_watched(self.project, Path(path)):
                continue
            if is_dir or os.path.isdir(path):
                if kind in ("created", "moved_in"):
                    # A folder dropped in: its files may predate the watch on it.
                    for file in iter_input_files(self.project, under=Path(path)):
                        self._gone.pop(str(file), None)
                        self._touch(str(file), when, closed=kind == "moved_in")
                continue
            if not imaging.is_image_name(Path(path)):
                continue
            self._gone.pop(path, None)
            self._touch(path, when, closed=kind in ("closed", "moved_in"))

    def _touch(self, path: str, when: float, closed: bool) -> None:
        candidate = self._candidates.get(path)
        if candidate is None:
            candidate = self._candidates[path] = _Candidate(last_change=when)
        # Quiet time counts from the latest event (a close is just after the last write).
        candidate.last_change = max(candidate.last_change, when)
        # A write after a close reopens the question; the next close answers it again.
        candidate.closed = closed

    def _check(self, path: str, candidate: _Candidate, now: float) -> str:
        """ "ready", "waiting" or "missing"."""
        try:
            stat = os.stat(path)
        except OSError:
            return "missing"
        if (stat.st_size, stat.st_mtime_ns) != (candidate.size, candidate.mtime_ns):
            first_look = candidate.size < 0
            candidate.size, candidate.mtime_ns = stat.st_size, stat.st_mtime_ns
            if not first_look:
                candidate.last_change = now
                return "waiting"
        quiet = now - candidate.last_change
        if quiet >= self.stable_s or (candidate.closed and quiet >= self.settle_s):
            return "ready"
        return "waiting"

    def _queue_due(self, now: float) -> None:
        if not self.queue_jobs:
            self._dirty.clear()
            return
        if not self._dirty:
            return
        quiet = now - self._last_ingest >= self.debounce_s and not self._candidates
        due = [m for m, first in self._dirty.items() if quiet or now - first >= self.max_wait_s]
        if due:
            runs = enqueue_processing(self.project.root, due, requested_by="watcher")
            log.info(
                "queued processing of %d manifest(s): run(s) %s",
                len(due),
                ", ".join(f"#{r}" for r in runs),
            )
            for manifest_id in due:
                del self._dirty[manifest_id]

    @property
    def problem(self) -> str | None:
        """What the watcher cannot do right now (the daemon's heartbeat carries it)."""
        return "; ".join(p for p in (self._reconcile_problem, self._ingest_problem) if p) or None

    @property
    def busy(self) -> bool:
        """Files seen but not ingested yet, or ingests whose job is not queued yet."""
        return bool(self._candidates or self._gone or self._dirty)
