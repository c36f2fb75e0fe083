"""The project's SQLite file, in a folder others may write to.

SQLite opens a database by name, once per connection, and every thread has its own connection.
A check done once per process therefore says nothing about the file a later thread opens: in a
group-writable folder, another user can swap the name in between (a symlink to another
project's database, or a fresh file) and vidpipe would read or write that one. So:

* :func:`check_sqlite_files` refuses, by name, a database (or -wal/-shm/-journal) that is a
  symlink, not a regular file, or hard-linked (two project folders sharing one database, as
  ``cp -al`` makes them: each project's scan would mark the other's files removed);
* :class:`PinnedSqliteDatabase` opens every connection with SQLite's ``nofollow``, never
  creates the file after the first connection, and checks that each connection holds the very
  file (device and inode) the first one opened, asking the kernel which file the new
  connection's descriptor is (``/proc/self/fd``), not the name.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from urllib.parse import quote

from peewee import SqliteDatabase

from vidpipe.errors import ProjectError
from vidpipe.store.safe_io import describe_kind

#: SQLite's own files beside a database: each is opened (and written) by name.
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def hard_link_problem(name: Path, links: int) -> str:
    return (
        f"{name} has {links} hard links: another folder (a project copied with `cp -al`?) "
        "shares this very file, and each project would change the other's data (a scan "
        "marks the other's images removed). Give this project its own copy while no "
        f"vidpipe runs: cp -p '{name}' '{name}.own' && mv '{name}.own' '{name}'"
    )


def check_sqlite_files(path: Path) -> None:
    """Refuse a database whose file (or -wal/-shm/-journal companion) is a symlink, not a
    regular file, or has other hard links: SQLite follows symlinks and would write a project's
    pages elsewhere; a hard link shares them with another project."""
    for suffix in SQLITE_COMPANIONS:
        name = Path(f"{path}{suffix}")
        try:
            found = os.lstat(name)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(found.st_mode):
            raise ProjectError(
                f"{name} is a symlink (to {os.readlink(name)}); vidpipe does not "
                "open a database through a symlink. Replace it with the file "
                "itself, or move it away"
            )
        if not stat.S_ISREG(found.st_mode):
            raise ProjectError(
                f"{name} is {describe_kind(found.st_mode)}, not a database file; move it away"
            )
        if found.st_nlink > 1:
            raise ProjectError(hard_link_problem(name, found.st_nlink))


def open_files_named(path: Path) -> list[os.stat_result]:
    """What the kernel says of each descriptor this process holds open on ``path`` (the real
    path, compared as text); None where /proc is not there to ask."""
    real = os.path.realpath(path)
    found = []
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return []
    for fd in descriptors:
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == real:
                found.append(os.fstat(int(fd)))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor, another thread's)
    return found


class PinnedSqliteDatabase(SqliteDatabase):
    """A peewee SqliteDatabase whose every connection is to the same file, never through a
    symlink, never a file created after the first connection."""

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        self.identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the first file

    def _connect(self):
        path = Path(self.database)
        # After the first connection the file exists: a missing one was removed, and is not
        # silently made anew (mode=rw).
        mode = "" if self.identity is None else "&mode=rw"
        try:
            conn = sqlite3.connect(
                f"file:{quote(str(path))}?nofollow=1{mode}",
                uri=True,
                timeout=self._timeout,
                isolation_level=None,
                **self.connect_params,
            )
        except sqlite3.OperationalError as exc:
            if self.identity is None:
                raise
            raise ProjectError(
                f"the project database {path} cannot be opened again ({exc}): it was removed "
                "or replaced by a symlink while vidpipe had it open. Check who can write to "
                f"{path.parent} (ls -ld), put the project's own database back, and start "
                "vidpipe again"
            ) from None
        try:
            self._verify(path)
            self._add_conn_hooks(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _verify(self, path: Path) -> None:
        held = open_files_named(path)
        if not held:  # no /proc: the name is the best there is
            try:
                held = [os.stat(path, follow_symlinks=False)]
            except OSError as exc:
                raise ProjectError(
                    f"the project database {path} cannot be opened: {exc.strerror or exc}"
                ) from None
        identities = {(found.st_dev, found.st_ino) for found in held}
        if self.identity is None and len(identities) == 1:
            self.identity = identities.pop()
            identities = {self.identity}
        if identities != {self.identity}:
            raise ProjectError(
                f"the project database {path} was replaced by another file while vidpipe had "
                "it open; vidpipe stops rather than read or write the other one. Someone who "
                f"can write to {path.parent} swapped it: check who can (ls -ld), put the "
                "project's own database back, and start vidpipe again"
            )
        links = max(found.st_nlink for found in held)
        if links > 1:
            raise ProjectError(hard_link_problem(path, links))
