"""SQLite connections that never write while holding a read snapshot open.

In WAL mode a read keeps its snapshot until its statement is finished. Python's sqlite3 steps one
row ahead, so a peewee query being iterated (``for m in Manifest.select(): ...``), a ``.scalar()``
over several rows or a cursor left unread all keep a read open. If another connection (the
prompt writer thread, the daemon, the TUI) commits meanwhile, any write on this connection is
refused at once with "database is locked" (SQLITE_BUSY_SNAPSHOT): the busy timeout does not
apply, because waiting cannot make an old snapshot current.

Two defences, both below peewee so that no caller has to remember anything:

* :class:`SnapshotSafeCursor` reads every result to the end inside ``execute``: the statement is
  finished before the caller sees the first row, so iterating a query never holds a read open.
  (Transactions already begin IMMEDIATE, see :mod:`vidpipe.store.database`, so a transaction's reads
  happen under the write lock.)
* Under the tests (``VIDPIPE_SNAPSHOT_GUARD=1``), every write and every ``BEGIN`` first asks
  SQLite whether this connection is inside a read transaction and, if so, raises
  :class:`StaleSnapshotWrite` naming the open statements: a code path that slips past the first
  defence fails every time, not only when another process happens to commit at the wrong moment.
"""

from __future__ import annotations

import collections
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

GUARD_VARIABLE = "VIDPIPE_SNAPSHOT_GUARD"

_WRITE_KEYWORDS = frozenset(
    {"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "BEGIN"}
)
_SQLITE_TXN_READ = 1


class StaleSnapshotWrite(BaseException):
    """A write on a connection that still holds a read snapshot open.

    A BaseException on purpose: the code that meets it is wrong, and a stage's "record this
    asset's failure and go on" handler must not turn that into one failed asset.
    """


def guard_enabled() -> bool:
    return os.environ.get(GUARD_VARIABLE) == "1"


class SnapshotSafeConnection(sqlite3.Connection):
    """``sqlite3.connect(..., factory=SnapshotSafeConnection)``: its cursors read results to the
    end at once, and check writes when the guard is on."""

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        self.guard = _SnapshotGuard(self, database) if guard_enabled() else None

    def cursor(self, factory=None):
        return super().cursor(SnapshotSafeCursor)


class SnapshotSafeCursor(sqlite3.Cursor):
    """A cursor whose result rows are all read when the statement runs, then served from memory."""

    _rows: collections.deque | None = None

    def _check(self, sql: str) -> None:
        guard = getattr(self.connection, "guard", None)
        if guard is not None:
            guard.check(sql)

    def execute(self, sql, parameters=()):
        self._check(sql)
        self._rows = None  # a failed statement leaves nothing of the previous one to read
        super().execute(sql, parameters)
        self._rows = collections.deque(super().fetchall()) if self.description is not None else None
        return self

    def executemany(self, sql, seq_of_parameters):
        self._check(sql)
        self._rows = None
        return super().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script):
        self._check("BEGIN")  # a script may write anything
        self._rows = None
        return super().executescript(sql_script)

    def fetchone(self):
        if self._rows is None:
            return super().fetchone()
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size=None):
        if self._rows is None:
            return super().fetchmany(self.arraysize if size is None else size)
        count = self.arraysize if size is None else size
        return [self._rows.popleft() for _ in range(min(count, len(self._rows)))]

    def fetchall(self):
        if self._rows is None:
            return super().fetchall()
        rows, self._rows = list(self._rows), collections.deque()
        return rows

    def __iter__(self):
        return self

    def __next__(self):
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row


class _SnapshotGuard:
    """Asks the SQLite library itself (through ctypes) whether the connection holds a read open."""

    def __init__(self, connection: sqlite3.Connection, database) -> None:
        import ctypes

        self.library = _library()
        # CPython's connection object starts with its sqlite3* handle, right after the object
        # header. Checked against the file name below, so a layout change fails here, loudly.
        self.handle = ctypes.c_void_p.from_address(id(connection) + object.__basicsize__).value
        actual = (self.library.sqlite3_db_filename(self.handle, b"main") or b"").decode()
        if not _same_file(actual, str(database)):
            raise RuntimeError(
                f"snapshot guard: cannot find the sqlite3 handle of {database!r} "
                f"(found {actual!r}); unset {GUARD_VARIABLE} or fix the guard"
            )

    def check(self, sql: str) -> None:
        words = sql.lstrip().split(None, 1)
        if not words or words[0].upper() not in _WRITE_KEYWORDS:
            return
        if self.library.sqlite3_txn_state(self.handle, None) != _SQLITE_TXN_READ:
            return
        open_reads = self._busy_statements()
        message = (
            f"write on a connection that holds a read snapshot open: {sql.strip()[:200]!r}"
            f"; open: {open_reads or 'a deferred transaction that has read'}. Read results "
            "to the end (list(query)) or begin the transaction IMMEDIATE before writing."
        )
        print(f"vidpipe: {StaleSnapshotWrite.__name__}: {message}", file=sys.stderr, flush=True)
        raise StaleSnapshotWrite(message)

    def _busy_statements(self) -> list[str]:
        found = []
        statement = self.library.sqlite3_next_stmt(self.handle, None)
        while statement:
            if self.library.sqlite3_stmt_busy(statement):
                found.append((self.library.sqlite3_sql(statement) or b"").decode()[:200])
            statement = self.library.sqlite3_next_stmt(self.handle, statement)
        return found


def _same_file(found: str, given: str) -> bool:
    if given.startswith("file:"):  # a URI (file:PATH?nofollow=1): its path
        from urllib.parse import unquote

        given = unquote(given[len("file:") :].split("?", 1)[0])
    if given in ("", ":memory:"):
        return found == ""
    return bool(found) and Path(found).resolve() == Path(given).resolve()


_LIBRARY: ctypes.CDLL | None = None


def _library() -> ctypes.CDLL:
    """The SQLite library the sqlite3 module is linked against (not whichever is on the path)."""
    global _LIBRARY
    if _LIBRARY is None:
        import ctypes  # only under the guard: not a cost of every process's start

        import _sqlite3

        library = ctypes.CDLL(_sqlite3.__file__)
        for name, argtypes, restype in (
            ("sqlite3_txn_state", [ctypes.c_void_p, ctypes.c_char_p], ctypes.c_int),
            ("sqlite3_db_filename", [ctypes.c_void_p, ctypes.c_char_p], ctypes.c_char_p),
            ("sqlite3_next_stmt", [ctypes.c_void_p, ctypes.c_void_p], ctypes.c_void_p),
            ("sqlite3_stmt_busy", [ctypes.c_void_p], ctypes.c_int),
            ("sqlite3_sql", [ctypes.c_void_p], ctypes.c_char_p),
        ):
            function = getattr(library, name)
            function.argtypes, function.restype = argtypes, restype
        _LIBRARY = library
    return _LIBRARY
