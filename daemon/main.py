"""``vidpipe-daemon PROJECT [--detach]``: the queue consumer, the folder watcher, a heartbeat.

Runs in the foreground (systemd, tmux, nohup) until SIGTERM/SIGINT; ``--detach`` starts it in
the background and prints its pid. One daemon per project (see daemon.lock).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from huey.consumer import Consumer
from peewee import DatabaseError as PeeweeDatabaseError

from vidpipe.config.queues import shared_queue
from vidpipe.ops import daemon_registry
from vidpipe.ops.daemon_state import format_started, write_heartbeat
from vidpipe.store.database import describe_database_error, ensure_writable
from vidpipe.errors import VidpipeError, describe_os_error
from vidpipe.printable import PrintableFormatter
from vidpipe.store.project import Project, find_project
from vidpipe.store.reconnect import OutageLog
from vidpipe.store.safe_io import LogFileHandler

from daemon.takeover import enqueue_lost_runs, take_over_abandoned

if TYPE_CHECKING:
    from daemon.watcher import FolderIngester

log = logging.getLogger("vidpipe.daemon")

HEARTBEAT_INTERVAL_S = 1.0
#: After a stop signal, a job gets this long to checkpoint before the process exits anyway
#: (the run is then left RUNNING under a dead pid and resumed by the next start).
SHUTDOWN_GRACE_S = 10.0


class _Consumer(Consumer):
    """Huey's consumer, minus its signal handlers: the daemon owns the signals, because it must
    stop the running job (and the watcher) before the worker is joined."""

    def _set_signal_handlers(self):
        pass


class SharedQueueMember:
    """Stands in for the project lock when several daemons share the queue: nothing to hold,
    and no previous daemon of this project to recover from (the others take over)."""

    previous_pid = None

    def __init__(self) -> None:
        self.started_at = format_started()

    def release(self) -> None:
        pass


def this_daemon() -> str:
    """This daemon's name among the project's daemons: "host:pid"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def setup_logging(project: Project, verbose: bool = False) -> None:
    project.ensure_dirs()  # refuses a logs folder that is a symlink
    # Log lines quote file names from the project and end up on terminals (tail -f).
    fmt = PrintableFormatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    to_file = LogFileHandler(project.logs_dir / "daemon.log", within=project.state_dir)
    to_file.setFormatter(fmt)
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(fmt)
    root = logging.getLogger()
    root.handlers[:] = [to_file, to_stderr]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # absl: TensorFlow's Python-side logger (its native lines: vidpipe.vision.native_stderr).
    for noisy in ("watchdog", "PIL", "huey.consumer.Scheduler", "absl", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class Daemon:
    def __init__(self, project: Project, watch: bool = True, force_polling: bool = False):
        self.project = project
        self.watch = watch
        self.force_polling = force_polling
        self.stop_requested = threading.Event()
        self.watcher: FolderIngester | None = None
        self.shared = False
        self._outage = OutageLog(log, "heartbeat")

    def request_stop(self, signum=None, frame=None) -> None:
        if self.stop_requested.is_set():
            log.warning("second stop signal: exiting now; the current run resumes on next start")
            os._exit(1)
        if signum is not None:
            log.info("received %s: stopping", signal.Signals(signum).name)
        self.stop_requested.set()

    def run(self) -> int:
        from daemon.job_runner import bind_runtime, requeue_runs
        from daemon.lock import DaemonLock
        from daemon.queue import MAX_POLL_DELAY_S
        from daemon.tasks import task_set
        from daemon.watcher import FolderIngester
        from vidpipe.store.session import open_project

        # A shared queue (Redis queue_url) means several daemons may serve the project, on this
        # machine or others: no project lock; each daemon names itself in the database.
        self.shared = shared_queue(self.project.settings().queue_url)
        lock = SharedQueueMember() if self.shared else DaemonLock(self.project).acquire()
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        session = open_project(self.project.root)
        ensure_writable(session.database)
        settings = session.settings
        runtime = bind_runtime(self.project, settings, shared=self.shared)
        if not settings.queue_url:
            set_aside_damaged_queue(self.project)
        tasks = task_set(self.project, settings, immediate=False)
        log.info(
            "vidpipe-daemon %s started for %s%s",
            this_daemon(),
            self.project.root,
            " (shared queue)" if self.shared else "",
        )
        if self.shared:
            self._shared_heartbeat(lock.started_at, runtime, tasks)
            take_over_abandoned(tasks)
            enqueue_lost_runs(tasks)
        else:
            requeue_runs(tasks, previous_pid=lock.previous_pid)
        # Import the engine and stage modules now (they load their ML stacks lazily), so the
        # first job is picked up as fast as the later ones.
        from vidpipe.pipeline.stages import default_stages

        default_stages(settings)

        # One worker: GPU work runs one job at a time.
        consumer = _Consumer(
            tasks.huey,
            workers=1,
            worker_type="thread",
            periodic=False,
            initial_delay=0.05,
            max_delay=MAX_POLL_DELAY_S,
            shutdown_timeout=SHUTDOWN_GRACE_S,
        )
        consumer.start()
        if self.watch:
            self.watcher = FolderIngester(self.project, settings, force_polling=self.force_polling)
            self.watcher.start()

        started = lock.started_at
        last_health = time.monotonic()
        try:
            last_shared = 0.0
            while not self.stop_requested.is_set():
                if not self.shared:
                    self._local_round(started, runtime, tasks)
                elif time.monotonic() - last_shared >= daemon_registry.HEARTBEAT_S:
                    last_shared = time.monotonic()
                    self._shared_round(started, runtime, tasks)
                self.stop_requested.wait(HEARTBEAT_INTERVAL_S)
                if time.monotonic() - last_health > 10:
                    last_health = time.monotonic()
                    consumer.check_worker_health()
        finally:
            self._shutdown(runtime, consumer, started, tasks)
            session.close()
            lock.release()
        log.info("vidpipe-daemon pid %s stopped", os.getpid())
        return 0

    def _local_round(self, started: str, runtime, tasks) -> None:
        """The heartbeat file; a full disk (or another file error) is said once, and the daemon
        keeps serving: the beat resumes when the file can be written again."""
        try:
            self._heartbeat(started, runtime, tasks)
        except (OSError, VidpipeError) as exc:
            self._outage.failed(exc)
            return
        self._outage.succeeded()

    def _heartbeat(self, started: str, runtime, tasks, state: str = "running") -> None:
        try:
            counts = tasks.counts()
        except Exception as exc:
            counts = {"error": str(exc)}
        watcher = self.watcher
        write_heartbeat(
            self.project,
            {
                "pid": os.getpid(),
                "started_at": started,
                "state": state,
                "current_run": runtime.current_run,
                "queue": counts,
                "watcher": watcher.mode if watcher else None,
                "note": watcher.note if watcher else None,
                "problem": watcher.problem if watcher else None,
            },
        )

    def _shared_heartbeat(self, started: str, runtime, tasks, state: str = "running") -> None:
        try:
            counts = tasks.counts()
        except Exception as exc:
            counts = {"error": str(exc)}
        daemon_registry.beat(this_daemon(), started, runtime.current_run, counts, state)

    def _shared_round(self, started: str, runtime, tasks) -> None:
        """Heartbeat in the database, then take over what daemons that are gone left."""
        try:
            self._shared_heartbeat(started, runtime, tasks)
            taken = take_over_abandoned(tasks)
            lost = enqueue_lost_runs(tasks)
        except Exception as exc:  # the database or queue away: the next round
            self._outage.failed(exc)  # says so once, not every round
            return
        self._outage.succeeded()
        if taken or lost:
            log.info("took over run(s) %s; queued again run(s) %s", taken, lost)

    def _shutdown(self, runtime, consumer, started, tasks) -> None:
        # A stuck stage (e.g. a model load) must not keep the process alive forever.
        guard = threading.Timer(SHUTDOWN_GRACE_S + 5, self._force_exit)
        guard.daemon = True
        guard.start()
        runtime.stop()  # the running job checkpoints at its next item
        if self.watcher is not None:
            self.watcher.stop()
        consumer.stop(graceful=True)
        try:
            if self.shared:
                self._shared_heartbeat(started, runtime, tasks, state="stopped")
            else:
                self._heartbeat(started, runtime, tasks, state="stopped")
        except (OSError, PeeweeDatabaseError, VidpipeError):  # a full disk, a database away
            pass
        guard.cancel()

    @staticmethod
    def _force_exit() -> None:
        log.error(
            "shutdown took longer than %ss; exiting now (the run resumes on next start)",
            SHUTDOWN_GRACE_S + 5,
        )
        logging.shutdown()
        os._exit(1)


def set_aside_damaged_queue(project: Project) -> None:
    """A queue file that is not an intact SQLite database (or is a symlink) is renamed aside:
    the queue is only a wake-up list, rebuilt from the Run rows of the project database."""
    from vidpipe.store.database import SQLITE_COMPANIONS, inspect_sqlite

    path = project.queue_path
    if not (path.exists() or path.is_symlink()):
        return
    health = inspect_sqlite(path, schema_table=None)
    if health.problem is None:
        return
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in SQLITE_COMPANIONS:
        name = Path(f"{path}{suffix}")
        if name.exists() or name.is_symlink():
            os.replace(name, name.with_name(f"{name.name}.damaged-{stamp}"))
    log.warning(
        "the queue file %s %s; set aside as %s.damaged-%s, the queue is rebuilt from "
        "the project database",
        path,
        health.problem,
        path.name,
        stamp,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidpipe-daemon",
        description="Process a vidpipe project in the background: job queue + folder watcher.",
    )
    parser.add_argument("project", type=Path, help="the project folder (vidpipe init first)")
    parser.add_argument(
        "--detach", action="store_true", help="start in the background, print the pid and return"
    )
    parser.add_argument("--no-watch", action="store_true", help="do not watch the folder")
    parser.add_argument(
        "--poll",
        action="store_true",
        help="watch by polling instead of inotify (network filesystems)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        project = find_project(args.project)
        project.settings()  # bad or untrusted settings: refused here, in the foreground
        if args.detach:
            from daemon.client import start_detached

            started = start_detached(project.root)
            state = "started" if started.ready else "is still starting"
            print(
                f"vidpipe-daemon {state} for {project.root}, pid {started.pid}; "
                f"log: {project.logs_dir / 'daemon.log'}"
            )
            return 0
        setup_logging(project, args.verbose)
        return Daemon(project, watch=not args.no_watch, force_polling=args.poll).run()
    except VidpipeError as exc:
        print(f"vidpipe-daemon: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # start_detached: the child exited at once
        print(f"vidpipe-daemon: {exc}", file=sys.stderr)
        return 2
    except (PeeweeDatabaseError, sqlite3.DatabaseError) as exc:
        log.exception("database error")
        print(f"vidpipe-daemon: {describe_database_error(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        log.exception("file system error")
        print(f"vidpipe-daemon: {describe_os_error(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
