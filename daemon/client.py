"""Queueing work for a project's daemon from another process (the TUI, the CLI, the watcher).

Light by contract: importing this module never imports torch, tensorflow, ultralytics, deepface
or google-genai, directly or indirectly (tests/test_daemon_client.py checks it in a subprocess).

Every function expects the project database to be bound in the calling process
(:func:`vidpipe.store.session.open_project`). A job is a Run row created here, QUEUED with its progress
rows, plus a queue entry carrying the run id; the daemon executes it and updates the rows live.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, NamedTuple

from vidpipe.config.queues import shared_queue
from vidpipe.ops import daemon_registry

from vidpipe.pipeline import runs
from vidpipe.ops.daemon_state import DaemonStatus, daemon_status, lock_is_held, read_lock_info
from vidpipe.store.database import serialize_writers
from vidpipe.errors import VidpipeError
from vidpipe.store.models import Asset, Run, RunKind, RunMode, RunStatus, db
from vidpipe.store.project import find_project
from vidpipe.pipeline.runs import (
    PRIORITY_BULK,
    PRIORITY_INTERACTIVE,
    REPROCESS_STAGES,
    create_run,
    take_in_new_images,
)
from vidpipe.store.safe_io import open_append, open_regular

#: Advisory lock key of enqueue_process's look-then-create ("vide").
ENQUEUE_LOCK_KEY = 0x76696465

__all__ = [
    "enqueue_process",
    "enqueue_processing",
    "enqueue_reprocess",
    "cancel_run",
    "start_detached",
    "Started",
    "daemon_status",
    "DaemonStatus",
]


def _tasks(project_root: Path | str):
    """The project's queue with the tasks registered (a daemon.tasks.TaskSet). Imported on
    first use: a TUI that never queues anything never loads Huey."""
    from daemon.tasks import task_set

    return task_set(find_project(Path(project_root)))


def enqueue_process(
    project_root: Path,
    manifest_id: int,
    mode: RunMode | str = RunMode.MISSING,
    requested_by: str = "tui",
) -> Run:
    """Queue "process this manifest" (``mode`` missing | all). A run for the same manifest that
    is still waiting in the queue (same mode, or "all") is returned instead of a second one."""
    if mode not in set(RunMode):
        raise ValueError(f"mode must be 'missing' or 'all', not {mode!r}")
    modes = [RunMode.ALL] if mode == RunMode.ALL else [RunMode.MISSING, RunMode.ALL]
    with db.atomic():
        # Daemons on several machines queue drops at once: one look-then-create at a time.
        serialize_writers(ENQUEUE_LOCK_KEY)
        waiting = (
            Run.select()
            .where(
                Run.kind == RunKind.PROCESS,
                Run.manifest == manifest_id,
                Run.status == RunStatus.QUEUED,
                Run.mode.in_(modes),
            )
            .order_by(Run.id)
            .first()
        )
        if waiting is not None:
            take_in_new_images(waiting)  # a run back in the queue after a restart started before
            return waiting
        run = create_run(
            RunKind.PROCESS,
            manifest_id=manifest_id,
            mode=mode,
            priority=PRIORITY_BULK,
            requested_by=requested_by,
        )
    _tasks(project_root).enqueue_run(run)
    return run


def enqueue_reprocess(
    project_root: Path, asset_id: int, overwrite: bool = False, requested_by: str = "tui"
) -> Run:
    """Queue a reprocess of one asset (detection + reverse prompting + tags) at interactive
    priority: it runs before any queued bulk work (after the job running now)."""
    asset = Asset.get_by_id(asset_id)
    run = create_run(
        RunKind.REPROCESS,
        manifest_id=asset.manifest_id,
        asset_id=asset.id,
        mode=RunMode.ALL,
        stages=REPROCESS_STAGES,
        priority=PRIORITY_INTERACTIVE,
        requested_by=requested_by,
        args={"overwrite": bool(overwrite)},
    )
    _tasks(project_root).enqueue_run(run)
    return run


def enqueue_processing(
    project_root: Path, manifest_ids: Iterable[int], requested_by: str = "watcher"
) -> list[int]:
    """One "missing" process job per manifest (an already-queued one is reused); their ids."""
    return [
        enqueue_process(project_root, manifest_id, RunMode.MISSING, requested_by=requested_by).id
        for manifest_id in sorted(set(manifest_ids))
    ]


def cancel_run(run_id: int) -> bool:
    """Cancel a queued run at once, or ask a running one to stop at its next item.
    False if the run had already ended."""
    return runs.cancel(run_id)


def daemon_command(project_root: Path | str) -> list[str]:
    # -P: the daemon runs in the project folder, and `python -m` would otherwise put that folder
    # first on sys.path, where a planted daemon/ or torch.py would be imported instead of ours.
    return [
        sys.executable,
        "-P",
        "-m",
        "daemon.main",
        str(Path(project_root).expanduser().resolve()),
    ]


class Started(NamedTuple):
    pid: int
    ready: bool  # False: still starting when the wait ended (it may yet come up: see its log)


def start_detached(project_root: Path, wait_s: float = 20.0) -> Started:
    """Start ``vidpipe-daemon PROJECT`` in the background (own session, output to its log file)
    and wait until it serves the project: holds the project lock or, with a shared queue (no
    lock then), heartbeats in the database. Raises RuntimeError if it exits first (e.g. another
    daemon already runs; the message says which)."""
    project = find_project(Path(project_root))
    shared = shared_queue(project.settings().queue_url)
    log_path = project.logs_dir / "daemon.out"
    project.logs_dir.mkdir(parents=True, exist_ok=True)
    with open_append(log_path, within=project.state_dir) as out:
        process = subprocess.Popen(
            daemon_command(project.root),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=str(project.root),
        )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            tail = _tail(log_path)
            raise RuntimeError(f"vidpipe-daemon exited with status {code}: {tail}")
        if _serving(project, process.pid, shared):
            return Started(process.pid, True)
        time.sleep(0.05)
    return Started(process.pid, False)


def _serving(project, pid: int, shared: bool) -> bool:
    if shared:
        name = f"{socket.gethostname()}:{pid}"
        return any(entry.name == name and entry.responding for entry in daemon_registry.daemons())
    return lock_is_held(project) and read_lock_info(project).get("pid") == pid


def _tail(path: Path, lines: int = 3) -> str:
    try:
        with open_regular(path, follow_symlinks=False) as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 4096))
            text = handle.read().decode("utf-8", errors="replace")
    except (OSError, VidpipeError):
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])
