"""Writing and reading files in a folder someone else may have prepared.

A project folder travels between people, so any name in it may already be taken by a planted
symlink, hard link, FIFO or folder. Every file vidpipe writes goes through here:

* :func:`write_atomic` writes a fresh temporary file, created exclusively (``O_EXCL |
  O_NOFOLLOW``) in the target's own folder, then renames it over the target. A symlink or hard
  link at the target's name is replaced, never written through; readers never see half a file.
* :func:`create_exclusive` creates a file only where nothing (not even a dangling symlink) is.
* :func:`write_new` puts a complete file under the first free one of several names.
* :func:`open_append` appends to a log without following a symlink at its name.
* :func:`open_inside` reads a file only where it really lies inside the project.
* :func:`read_limited` reads a small state file without following symlinks, without blocking
  on a FIFO and without swallowing a huge file whole.

``within``: the folder the target's folder must resolve into (the project root for state
files). A crops folder replaced by a symlink to elsewhere is refused, not written through.
"""

from __future__ import annotations

import errno
import fcntl
import io
import logging.handlers
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import IO, Callable, Iterable, Union

from vidpipe.errors import DiskFull, VidpipeError

Content = Union[bytes, str, Callable[[IO[bytes]], None]]

TEMP_PREFIX = ".vidpipe-"
TEMP_SUFFIX = ".tmp"  # hidden and *.tmp: never ingested, ignored by the watcher


class UnsafePath(VidpipeError):
    """A path vidpipe refuses to write or read (it leads outside where it should be, or is not
    a regular file)."""


def _open_folder(folder: Path, within: Path | None) -> int:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    if within is None:
        return fd
    try:
        real = _fd_path(fd, folder)
        limit = os.path.realpath(within)
        if real != limit and not real.startswith(limit.rstrip(os.sep) + os.sep):
            raise UnsafePath(
                f"{folder} leads to {real}, outside {within}; vidpipe does not "
                "write through it (a symlinked folder?)"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fd_path(fd: int, fallback: Path) -> str:
    """Where an open folder really is (race-free on Linux, by /proc)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(fallback)


def _temp_name() -> str:
    return f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"


def _write_content(fd: int, content: Content, durable: bool = False) -> None:
    try:
        with os.fdopen(fd, "wb", closefd=False) as handle:
            if callable(content):
                content(handle)
            else:
                handle.write(content.encode("utf-8") if isinstance(content, str) else content)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    except OSError as exc:
        # Not an OSError any more: the per-item handlers that skip one bad file must not
        # swallow it and fail every item after it the same way.
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(disk_full_message(str(exc.strerror or exc))) from exc
        raise


def disk_full_message(detail: str) -> str:
    return (
        f"the disk holding the project is full ({detail}); nothing written before is "
        "lost: free some space, then the run resumes where it stopped"
    )


def write_atomic(
    path: Path | str,
    content: Content,
    *,
    within: Path | None = None,
    mode: int = 0o644,
    durable: bool = False,
) -> Path:
    """Replace ``path`` with ``content`` (bytes, text written as UTF-8, or a function that
    writes into a binary file object) in one rename. ``durable``: fsync before the rename
    (for files a person keeps; not for a heartbeat rewritten every second)."""
    path = Path(path)
    folder_fd = _open_folder(path.parent, within)
    try:
        name = _temp_name()
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            mode,
            dir_fd=folder_fd,
        )
        try:
            try:
                _write_content(fd, content, durable)
            finally:
                os.close(fd)
            os.replace(name, path.name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except BaseException:
            try:
                os.unlink(name, dir_fd=folder_fd)
            except OSError:
                pass
            raise
    finally:
        os.close(folder_fd)
    return path


def create_exclusive(
    path: Path | str, content: Content, *, within: Path | None = None, mode: int = 0o644
) -> bool:
    """Create ``path`` with ``content`` if nothing is at that name; False if something is
    (a file, a folder, a symlink even if dangling): it is left as it is."""
    path = Path(path)
    folder_fd = _open_folder(path.parent, within)
    try:
        try:
            fd = os.open(
                path.name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                mode,
                dir_fd=folder_fd,
            )
        except FileExistsError:
            return False
        try:
            _write_content(fd, content)
        finally:
            os.close(fd)
        return True
    finally:
        os.close(folder_fd)


def write_new(
    folder: Path | str,
    names: Iterable[str],
    content: Content,
    *,
    within: Path | None = None,
    same: Callable[[str], bool] | None = None,
) -> str:
    """Put ``content`` under the first of ``names`` that is free in ``folder`` and return it.

    The content is written completely to a temporary file first and then hard-linked to the
    name, which fails if anything took the name meanwhile (another process, a planted symlink):
    nobody ever sees a partial file, and nothing is overwritten. A taken name for which
    ``same(name)`` is true (it already holds this content) is returned instead.
    """
    folder = Path(folder)
    folder_fd = _open_folder(folder, within)
    try:
        temp = _temp_name()
        fd = os.open(
            temp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=folder_fd,
        )
        try:
            try:
                _write_content(fd, content)
            finally:
                os.close(fd)
            for name in names:
                if _link_exclusive(folder_fd, temp, name):
                    return name
                if same is not None and same(name):
                    return name
            raise FileExistsError(f"no free name left in {folder}")
        finally:
            try:
                os.unlink(temp, dir_fd=folder_fd)
            except OSError:
                pass
    finally:
        os.close(folder_fd)


def _link_exclusive(folder_fd: int, temp: str, name: str) -> bool:
    """Give ``temp`` the name ``name`` unless it is taken; False if it is."""
    try:
        os.link(temp, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd, follow_symlinks=False)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
    # A filesystem without hard links: claim the name exclusively, then fill it.
    try:
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o644,
            dir_fd=folder_fd,
        )
    except FileExistsError:
        return False
    try:
        with os.fdopen(os.open(temp, os.O_RDONLY | os.O_CLOEXEC, dir_fd=folder_fd), "rb") as src:
            _write_content(fd, lambda out: shutil.copyfileobj(src, out, 1 << 20))
    finally:
        os.close(fd)
    return True


def open_append(path: Path | str, *, within: Path | None = None, mode: int = 0o644) -> IO[bytes]:
    """A binary append handle on ``path`` (created if missing); refuses a symlink or a
    non-regular file at that name."""
    path = Path(path)
    folder_fd = _open_folder(path.parent, within)
    try:
        try:
            fd = os.open(
                path.name,
                os.O_WRONLY
                | os.O_APPEND
                | os.O_CREAT
                | os.O_NOFOLLOW
                | os.O_NONBLOCK
                | os.O_CLOEXEC,
                mode,
                dir_fd=folder_fd,
            )
        except OSError as exc:
            raise UnsafePath(f"cannot append to {path}: {_why(exc)}") from None
    finally:
        os.close(folder_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(f"{path} is not a regular file; vidpipe does not write to it")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab")


def open_regular(path: Path | str, *, follow_symlinks: bool = True) -> IO[bytes]:
    """``path`` opened for reading, refused (UnsafePath) unless it is a regular file. Never
    blocks: a FIFO or a device is refused before anything is read from it."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError:
        if not follow_symlinks and os.path.islink(path):
            raise UnsafePath(f"{path} is a symlink; not followed") from None
        raise
    kind = os.fstat(fd).st_mode
    if not stat.S_ISREG(kind):
        os.close(fd)
        raise UnsafePath(f"{path} is {describe_kind(kind)}, not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def open_inside(path: Path | str, root: Path | str) -> IO[bytes]:
    """``path`` opened for reading as :func:`open_regular` does, refused (UnsafePath) unless
    the file opened lies inside ``root``.

    Symlinks inside a project are fine while they stay in it. The check asks the kernel where
    the open file really is (``/proc/self/fd``), after opening: a name swapped for a link to
    elsewhere between an earlier check and this open is caught, since what is checked is what
    is read."""
    handle = open_regular(path)
    try:
        real = _fd_path(handle.fileno(), Path(path))
        limit = os.path.realpath(root).rstrip(os.sep) + os.sep
        if not real.startswith(limit):
            raise UnsafePath(f"{path} leads to {real}, outside the project folder {root}; not read")
    except BaseException:
        handle.close()
        raise
    return handle


def read_limited(path: Path | str, limit: int, *, follow_symlinks: bool = False) -> bytes:
    """The bytes of a small regular file; UnsafePath if it is larger than ``limit``."""
    with open_regular(path, follow_symlinks=follow_symlinks) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafePath(f"{path} is larger than {limit} bytes; not read")
    return data


def lock_held_elsewhere(path: Path | str) -> bool:
    """True when some process holds an flock on the file at ``path``; False when none does or
    there is no such file. Probes with a shared non-blocking lock, dropped at once; never
    blocks (a FIFO planted at the name) and never follows a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock
    return False


def describe_kind(mode: int) -> str:
    """ "a FIFO", "a socket" ... for a stat mode, as a person would say it."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "it is a symlink; not followed"
    return exc.strerror or str(exc)


class LogFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file opened with :func:`open_append`: a symlink planted at the log's name
    is refused (UnsafePath) instead of appended to. Rotation renames, which never follows."""

    def __init__(
        self,
        path: Path | str,
        max_bytes: int = 5_000_000,
        backup_count: int = 5,
        within: Path | None = None,
    ):
        self.within = within
        super().__init__(
            path,
            maxBytes=max_bytes,
            backupCount=backup_count,
            encoding="utf-8",
            errors="backslashreplace",
        )

    def _open(self):
        return io.TextIOWrapper(
            open_append(self.baseFilename, within=self.within),
            encoding="utf-8",
            errors="backslashreplace",
        )
