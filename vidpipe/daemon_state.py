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

import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from vidpipe.project import Project

LOCK_FILENAME = "daemon.lock"
HEARTBEAT_FILENAME = "daemon.heartbeat.json"
#: A heartbeat older than this (seconds) means the daemon is not responding.
HEARTBEAT_STALE_S = 15.0


def lock_path(project: Project) -> Path:
    return project.state_dir / LOCK_FILENAME


def read_lock_info(project: Project) -> dict:
    """What the daemon wrote into its lock file ({} when nothing readable is there)."""
    try:
        text = lock_path(project).read_text(encoding="utf-8")
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


def lock_is_held(project: Project) -> bool:
    """True when some process holds the daemon lock of ``project``.

    Probes with a shared non-blocking lock, released at once; a daemon that starts at the same
    instant retries its own lock for a moment, so the probe never makes it refuse to start.
    """
    path = lock_path(project)
    if not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


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

    @property
    def responding(self) -> bool:
        return (self.running and self.heartbeat_age_s is not None
                and self.heartbeat_age_s < HEARTBEAT_STALE_S)

    def describe(self) -> str:
        if not self.running:
            return "daemon not running"
        age = (f"heartbeat {self.heartbeat_age_s:.1f}s ago" if self.heartbeat_age_s is not None
               else "no heartbeat yet")
        state = "" if self.responding or self.heartbeat_age_s is None else " (NOT RESPONDING)"
        work = f", working on run #{self.current_run}" if self.current_run else ", idle"
        return f"daemon running, pid {self.pid}, since {self.started_at}, {age}{state}{work}"


def heartbeat_path(project: Project) -> Path:
    return project.state_dir / HEARTBEAT_FILENAME


def read_heartbeat(project: Project) -> dict | None:
    """The daemon's last heartbeat, or None."""
    try:
        return json.loads(heartbeat_path(project).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_heartbeat(project: Project, value: dict) -> None:
    path = heartbeat_path(project)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(dict(value, time=time.time()), default=str), encoding="utf-8")
    os.replace(tmp, path)


def daemon_status(project_root: Path | str | Project) -> DaemonStatus:
    """Whether a daemon runs for the project, and what its heartbeat says. Cheap (two small
    files, no database access), so a front end may call it every second."""
    project = project_root if isinstance(project_root, Project) else Project(
        Path(project_root).expanduser().resolve())
    running = lock_is_held(project)
    info = read_lock_info(project) if running else {}
    status = DaemonStatus(running=running, pid=info.get("pid"), started_at=info.get("started_at"))
    if not running:
        return status
    beat = read_heartbeat(project)
    if beat and beat.get("pid") == status.pid:
        status.heartbeat_age_s = max(0.0, time.time() - float(beat.get("time", 0)))
        status.current_run = beat.get("current_run")
        status.queue = beat.get("queue") or {}
        status.watcher = beat.get("watcher")
        status.note = beat.get("note")
    return status


def format_started(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts or time.time()).astimezone().isoformat(timespec="seconds")
