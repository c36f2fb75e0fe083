"""Who is typing: the person (their login name) and the TUI session they type in.

A draft belongs to its writer. The login name tells people apart; the session tells apart two
people who share one account (and two windows of one person). A session is alive while its
process holds an exclusive lock on its lock file under ``drafts/sessions/``: the kernel drops
the lock when the process ends, however it ends (a dropped SSH connection, a kill), so a draft
whose session lock can be taken was left by a session that is gone and may be offered back to
its person.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from vidpipe.store.edits import current_person
from vidpipe.store.safe_io import UnsafePath, lock_held_elsewhere, open_append

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_name(text: str) -> str:
    """``text`` as a file name part: letters, digits, ``_`` and ``-`` only."""
    return _UNSAFE.sub("_", text)[:40] or "_"


@dataclass(frozen=True)
class Writer:
    user: str
    session: str  # unique per TUI process, safe in a file name
    host: str = ""

    @staticmethod
    def current() -> Writer:
        host = socket.gethostname()
        session = safe_name(f"{host[:20]}-{os.getpid()}-{secrets.token_hex(3)}")
        return Writer(current_person(), session, host)

    def as_dict(self) -> dict[str, str]:
        return {"user": self.user, "session": self.session, "host": self.host}


class SessionLock:
    """Holds ``sessions/<session>.lock`` for the life of this process (see the module doc)."""

    def __init__(self, folder: Path, session: str):
        self.folder = folder
        self.path = folder / f"{session}.lock"
        self._fd: int | None = None

    def acquire(self, within: Path) -> None:
        """UnsafePath where the folder leads outside ``within`` (a symlinked drafts folder)."""
        real, limit = os.path.realpath(self.folder), os.path.realpath(within)
        if not real.startswith(limit.rstrip(os.sep) + os.sep):
            raise UnsafePath(f"{self.folder} leads to {real}, outside {within}")
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = open_append(self.path, within=within)
        fd = os.dup(handle.fileno())
        handle.close()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None


def session_alive(folder: Path, session: str) -> bool:
    """Whether another process still holds ``session``'s lock. A missing lock file means the
    session ended cleanly (or never started here): not alive."""
    if not session or _UNSAFE.search(session):
        return False
    return lock_held_elsewhere(folder / f"{session}.lock")
