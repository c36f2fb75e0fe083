"""One daemon per project: an exclusive flock on ``.vidpipe/daemon.lock`` held for life.

The kernel drops a flock when its process dies (``kill -9`` included), so a stale lock is simply
taken over by the next daemon; the pid written inside only says who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import time

from vidpipe.ops.daemon_state import format_started, lock_path, read_lock_info
from vidpipe.errors import VidpipeError
from vidpipe.store.project import Project
from vidpipe.store.safe_io import describe_kind


class DaemonAlreadyRunning(VidpipeError):
    """Another daemon holds the project's lock."""


class DaemonLockUnusable(VidpipeError):
    """Something other than a regular file is at the lock file's name."""


class DaemonLock:
    def __init__(self, project: Project):
        self.project = project
        self.path = lock_path(project)
        self.fd: int | None = None
        self.previous: dict = {}
        self.started_at = format_started()

    def acquire(self, wait_s: float = 2.0) -> "DaemonLock":
        """Take the lock or raise DaemonAlreadyRunning naming the holder's pid.

        Retries for ``wait_s``: `vidpipe daemon status` probes the lock with a brief shared lock.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = self._open()
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    holder = read_lock_info(self.project)
                    raise DaemonAlreadyRunning(
                        f"a daemon is already running for {self.project.root} "
                        f"(pid {holder.get('pid', '?')}, since {holder.get('started_at', '?')}); "
                        f"stop it with: vidpipe daemon stop {self.project.root}"
                    ) from None
                time.sleep(0.05)
        self.fd = fd
        self.previous = read_lock_info(self.project)
        info = json.dumps({"pid": os.getpid(), "started_at": self.started_at}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info, 0)
        os.fsync(fd)
        return self

    def _open(self) -> int:
        """The lock file, refused unless it is a regular file: the pid is written into it, so
        a symlink planted at its name must not lead that write elsewhere."""
        try:
            fd = os.open(
                self.path,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                0o644,
            )
        except OSError as exc:
            raise DaemonLockUnusable(self._unusable(exc.strerror or str(exc))) from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise DaemonLockUnusable(self._unusable(f"it is {describe_kind(mode)}"))
        os.set_blocking(fd, True)
        return fd

    def _unusable(self, why: str) -> str:
        try:
            mode = os.lstat(self.path).st_mode
        except OSError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            why = f"it is {describe_kind(mode)}"
        return (
            f"cannot use the daemon lock file {self.path}: {why}. Move it away "
            "(vidpipe creates a new one)"
        )

    @property
    def previous_pid(self) -> int | None:
        pid = self.previous.get("pid")
        return pid if isinstance(pid, int) and not isinstance(pid, bool) else None

    def release(self) -> None:
        if self.fd is None:
            return
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None
