"""One pipeline job at a time per machine, whatever the number of daemons on it.

Each daemon runs one pipeline job at a time (one pipeline worker); with a shared queue several
daemons may run on one GPU box, and two jobs at once would fight over the GPU's memory. A
pipeline job first takes an exclusive ``flock`` on a file in the machine's temp folder, which
the kernel releases when the process exits, ``kill -9`` included.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def box_lock_path() -> Path:
    return Path(tempfile.gettempdir()) / f"vidpipe-pipeline-{os.getuid()}.lock"


@contextmanager
def one_job_per_box(stopping: threading.Event | None = None, poll_s: float = 0.2) -> Iterator[bool]:
    """Hold the machine's pipeline lock for the block; yields False (without the lock) if
    ``stopping`` was set while waiting."""
    fd = os.open(box_lock_path(), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stopping is not None and stopping.wait(poll_s):
                    yield False
                    return
                if stopping is None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    break
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
