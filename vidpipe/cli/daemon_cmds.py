"""vidpipe daemon status|stop PROJECT (the daemon itself is the ``vidpipe-daemon`` command)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

from vidpipe.config.queues import shared_queue
from vidpipe.ops.daemon_state import daemon_status, lock_is_held, lock_path, not_this_daemon
from vidpipe.store.project import find_project


def register(subparsers) -> None:
    p = subparsers.add_parser("daemon", help="status or stop of the project's background daemon")
    sub = p.add_subparsers(dest="daemon_command", metavar="ACTION", required=True)

    s = sub.add_parser("status", help="is a daemon running, what is it doing")
    s.add_argument("project", type=Path)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_status)

    s = sub.add_parser("stop", help="stop the daemon (it checkpoints the current job)")
    s.add_argument("project", type=Path)
    s.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for it to exit (default 30)"
    )
    s.add_argument(
        "--kill",
        action="store_true",
        help="SIGKILL it if it has not exited within --timeout (the job resumes on the next start)",
    )
    s.set_defaults(handler=cmd_stop)


def cmd_status(args) -> int:
    project = find_project(args.project)
    if shared_queue(project.settings().queue_url):
        return _shared_status(project, args.json)
    status = daemon_status(project)
    if args.json:
        print(json.dumps(dict(asdict(status), responding=status.responding), indent=2))
    else:
        print(status.describe())
        if status.queue:
            print("queue: " + ", ".join(f"{k} {v}" for k, v in status.queue.items()))
        if status.watcher:
            print(f"watcher: {status.watcher}")
        if status.note:
            print(f"note: {status.note}")
    return 0 if status.running else 1


def _shared_status(project, as_json: bool) -> int:
    """A shared queue: every daemon serving the project, from the database."""
    from vidpipe.ops import daemon_registry
    from vidpipe.store.session import open_project

    with open_project(project.root):
        entries = daemon_registry.daemons()
    responding = [e for e in entries if e.responding]
    if as_json:
        print(json.dumps([dict(asdict(e), responding=e.responding) for e in entries], indent=2))
    elif not entries:
        print("no daemon has served this project (shared queue)")
    else:
        print(f"{len(responding)} daemon(s) running (shared queue):")
        for entry in entries:
            print("  " + entry.describe())
    return 0 if responding else 1


def cmd_stop(args) -> int:
    project = find_project(args.project)
    if shared_queue(project.settings().queue_url):
        print(
            "vidpipe: error: this project's queue is shared (queue_url): several daemons may "
            "serve it, on several machines. Stop each on its machine (SIGTERM: kill PID, or "
            f"its service); `vidpipe daemon status {project.root}` lists them",
            file=sys.stderr,
        )
        return 1
    status = daemon_status(project)
    if not status.running or status.pid is None:
        print("no daemon is running for this project")
        return 0
    refusal = not_this_daemon(project, status.pid)
    if refusal:
        print(
            f"vidpipe: error: not stopping anything: {refusal}. The lock file "
            f"{lock_path(project)} does not name this project's daemon",
            file=sys.stderr,
        )
        return 1
    print(f"stopping daemon pid {status.pid} ...", flush=True)
    try:
        os.kill(status.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if _wait_released(project, args.timeout):
        print("daemon stopped")
        return 0
    if args.kill and not_this_daemon(project, status.pid) is None:
        os.kill(status.pid, signal.SIGKILL)
        if _wait_released(project, 10):
            print("daemon killed; its current job resumes when a daemon starts again")
            return 0
    print(
        f"vidpipe: error: daemon pid {status.pid} still running after {args.timeout:g}s "
        f"(use --kill)",
        file=sys.stderr,
    )
    return 1


def _wait_released(project, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not lock_is_held(project):
            return True
        time.sleep(0.1)
    return not lock_is_held(project)
