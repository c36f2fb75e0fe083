"""Who runs the daemon of a project, read by the CLI and the TUI without importing the daemon.

Two facts, written by the daemon and read here:

* ``PROJECT/.vidpipe/daemon.lock``: the daemon holds an exclusive ``flock`` on it for its whole
  life and writes ``{"pid": ..., "started_at": ...}`` into it. The kernel releases the lock when
  the process dies (even after ``kill -9``), so "can someone else lock it?" is the truth about
  whether a daemon runs; the pid inside says which one.
* ``PROJECT/.vidpipe/daemon.heartbeat.json``: rewritten (atomically) every second or so with the
  daemon's pid, the run it works on, queue counts and the watcher mode. Its age tells a hung
  daemon from a live one. A file rather than a database row, so the heartbeat neither competes
  with real writes nor wakes every reader of the database each second.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from vidpipe.errors import VidpipeError
from vidpipe.store.project import Project
from vidpipe.store.safe_io import lock_held_elsewhere, read_limited, write_atomic

LOCK_FILENAME = "daemon.lock"
HEARTBEAT_FILENAME = "daemon.heartbeat.json"
#: A heartbeat older than this (seconds) means the daemon is not responding.
HEARTBEAT_STALE_S = 15.0
#: The lock and heartbeat files are a few hundred bytes; a larger one is not read.
STATE_FILE_LIMIT = 64 * 1024


def lock_path(project: Project) -> Path:
    return project.state_dir / LOCK_FILENAME


def _read_json(path: Path) -> dict | None:
    """A small JSON object vidpipe wrote; None when what is there is anything else (missing, a
    symlink, a FIFO, huge, not JSON, not an object)."""
    try:
        value = json.loads(read_limited(path, STATE_FILE_LIMIT).decode("utf-8"))
    except (OSError, ValueError, VidpipeError):
        return None
    return value if isinstance(value, dict) else None


def read_lock_info(project: Project) -> dict:
    """What the daemon wrote into its lock file ({} when nothing usable is there)."""
    return _read_json(lock_path(project)) or {}


def lock_is_held(project: Project) -> bool:
    """True when some process holds the daemon lock of ``project``.

    Probes with a shared non-blocking lock, released at once; a daemon that starts at the same
    instant retries its own lock for a moment, so the probe never makes it refuse to start.
    """
    return lock_held_elsewhere(lock_path(project))


@dataclass
class DaemonStatus:
    running: bool
    pid: int | None = None
    started_at: str | None = None
    heartbeat_age_s: float | None = None
    current_run: int | None = None
    queue: dict = field(default_factory=dict)
    watcher: str | None = None  # "inotify" | "polling" | None
    note: str | None = None  # e.g. why the watcher fell back to polling
    problem: str | None = None  # something the daemon cannot do, e.g. its start-up reconcile

    @property
    def responding(self) -> bool:
        return (
            self.running
            and self.heartbeat_age_s is not None
            and self.heartbeat_age_s < HEARTBEAT_STALE_S
        )

    def describe(self) -> str:
        if not self.running:
            return "daemon not running"
        age = (
            f"heartbeat {self.heartbeat_age_s:.1f}s ago"
            if self.heartbeat_age_s is not None
            else "no heartbeat yet"
        )
        state = "" if self.responding or self.heartbeat_age_s is None else " (NOT RESPONDING)"
        work = f", working on run #{self.current_run}" if self.current_run else ", idle"
        problem = f"; PROBLEM: {self.problem}" if self.problem else ""
        return (
            f"daemon running, pid {self.pid}, since {self.started_at}, {age}{state}{work}{problem}"
        )


def heartbeat_path(project: Project) -> Path:
    return project.state_dir / HEARTBEAT_FILENAME


def read_heartbeat(project: Project) -> dict | None:
    """The daemon's last heartbeat, or None."""
    return _read_json(heartbeat_path(project))


def write_heartbeat(project: Project, value: dict) -> None:
    write_atomic(
        heartbeat_path(project),
        json.dumps(dict(value, time=time.time()), default=str),
        within=project.state_dir,
    )


def daemon_status(project_root: Path | str | Project) -> DaemonStatus:
    """Whether a daemon runs for the project, and what its heartbeat says. Cheap (two small
    files, no database access), so a front end may call it every second."""
    project = (
        project_root
        if isinstance(project_root, Project)
        else Project(Path(project_root).expanduser().resolve())
    )
    running = lock_is_held(project)
    info = read_lock_info(project) if running else {}
    # Both files lie in the project folder: take only values of the expected types.
    status = DaemonStatus(
        running=running,
        pid=_typed(info.get("pid"), int),
        started_at=_typed(info.get("started_at"), str),
    )
    if not running:
        return status
    beat = read_heartbeat(project)
    if beat and status.pid is not None and beat.get("pid") == status.pid:
        beat_time = _typed(beat.get("time"), float) or 0.0
        status.heartbeat_age_s = max(0.0, time.time() - beat_time)
        status.current_run = _typed(beat.get("current_run"), int)
        queue = beat.get("queue")
        status.queue = (
            {str(k): v for k, v in queue.items() if isinstance(v, (int, str))}
            if isinstance(queue, dict)
            else {}
        )
        status.watcher = _typed(beat.get("watcher"), str)
        status.note = _typed(beat.get("note"), str)
        status.problem = _typed(beat.get("problem"), str)
    return status


def _typed(value, kind: type):
    """``value`` if it is a ``kind`` (ints count as floats, bools as nothing), else None."""
    if isinstance(value, bool):
        return None
    if kind is float and isinstance(value, int):
        return float(value)
    return value if isinstance(value, kind) else None


#: How the daemon's command line names its entry point (``python -m daemon.main`` from
#: ``--detach`` and the TUI, or the ``vidpipe-daemon`` script).
DAEMON_ENTRY_POINTS = ("daemon.main", "vidpipe-daemon")


def not_this_daemon(project: Project, pid: int | None) -> str | None:
    """Why ``pid`` is not the vidpipe daemon of ``project`` (None when it is).

    The lock file lies in the project folder and anyone can write a pid into it; before a
    signal is sent, the process itself is asked: its command line must be vidpipe-daemon for
    this project, and the kernel's lock table must show it holding the lock file's flock.
    Without /proc (not Linux) only "some process holds the lock" can be checked.
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 1 or pid == os.getpid():
        return f"the lock file names {pid!r}, which is not a daemon's pid"
    proc = Path("/proc") / str(pid)
    if not Path("/proc/self").is_dir():
        return None if lock_is_held(project) else "no process holds the lock"
    try:
        argv = [os.fsdecode(a) for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
        cwd = os.readlink(proc / "cwd")
    except FileNotFoundError:
        return f"no process {pid} exists"
    except OSError as exc:
        return f"process {pid} cannot be inspected ({exc.strerror or exc})"
    entry = next(
        (
            i
            for i, a in enumerate(argv)
            if a in DAEMON_ENTRY_POINTS or Path(a).name in DAEMON_ENTRY_POINTS
        ),
        None,
    )
    if entry is None:
        return f"process {pid} is not vidpipe-daemon (it runs: {' '.join(argv)[:200]})"
    roots = {
        os.path.realpath(os.path.join(cwd, a)) for a in argv[entry + 1 :] if not a.startswith("-")
    }
    if str(project.root) not in roots:
        return f"process {pid} is a vidpipe daemon of another folder ({' '.join(argv)[:200]})"
    holders = _flock_holders(lock_path(project))
    if holders is not None and pid not in holders:
        return f"process {pid} does not hold this project's daemon lock"
    return None


def _flock_holders(path: Path) -> set[int] | None:
    """Pids holding a flock on ``path`` per /proc/locks; None if that cannot be read."""
    try:
        st = os.stat(path, follow_symlinks=False)
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    holders = set()
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 14195 fe:00:2146342 0 EOF" ("->" marks a waiter)
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted:
            try:
                holders.add(int(fields[4]))
            except ValueError:
                continue
    return holders


def format_started(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts or time.time()).astimezone().isoformat(timespec="seconds")
