"""Noticing that another process wrote to the project database, cheaply.

SQLite bumps ``PRAGMA data_version`` on a connection whenever *another* connection commits. Asking
for it costs microseconds and reads no table, so the TUI can ask every ~150 ms and reload only
when something really changed. PostgreSQL has no such counter: there the watcher LISTENs on the
channel the project's triggers NOTIFY at each commit that touched progress, runs, assets or edits
(vidpipe.store.database.ensure_change_notifications), and looks at what arrived; that also costs no
query. Any other database is reloaded every few seconds.

The LISTEN connection is lost when the PostgreSQL server restarts: :meth:`changed` then raises
:class:`DatabaseUnreachable` (the app shows it) and LISTENs again on a new connection, with
backoff, until the server answers; the first answer counts as a change, since notifications
sent while it was away were missed.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

from peewee import Database, PostgresqlDatabase, SqliteDatabase

from vidpipe.errors import DatabaseUnreachable
from vidpipe.store.database import CHANGES_CHANNEL

#: Seconds between two tries to LISTEN again: doubling from the first, capped at the last.
RELISTEN_FIRST_S = 0.5
RELISTEN_MAX_S = 5.0


class DataVersionWatcher:
    def __init__(self, database: Database, fallback_interval: float = 3.0):
        self._connection: sqlite3.Connection | None = None
        self._version: int | None = None
        self._fallback_interval = fallback_interval
        self._last_fallback = 0.0
        self._listener = None
        self._postgres: PostgresqlDatabase | None = None
        self._relisten_at = 0.0
        self._relisten_delay = RELISTEN_FIRST_S
        self._lost: str | None = None
        if isinstance(database, PostgresqlDatabase):
            self._postgres = database
            self._listener = _listen(database)
        elif isinstance(database, SqliteDatabase):
            path = Path(database.database)
            # Its own connection: data_version counts commits made by *other* connections,
            # including this app's own worker threads.
            self._connection = sqlite3.connect(
                path, timeout=5, isolation_level=None, check_same_thread=False
            )
            self._version = self._read()

    def _read(self) -> int:
        assert self._connection is not None
        return int(self._connection.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        """True once after each commit by another connection since the last call."""
        if self._postgres is not None:
            return self._heard()
        if self._connection is None:
            now = time.monotonic()
            if now - self._last_fallback >= self._fallback_interval:
                self._last_fallback = now
                return True
            return False
        version = self._read()
        if version != self._version:
            self._version = version
            return True
        return False

    def _heard(self) -> bool:
        import psycopg2

        if self._listener is None:
            self._listen_again()
            return True  # back: whatever was notified meanwhile was missed
        try:
            self._listener.poll()  # reads what the server sent; no round trip
        except psycopg2.Error as exc:
            self._drop_listener(exc)
            raise DatabaseUnreachable(self._lost) from exc
        heard = bool(self._listener.notifies)
        self._listener.notifies.clear()
        return heard

    def _listen_again(self) -> None:
        import psycopg2

        if time.monotonic() < self._relisten_at:
            raise DatabaseUnreachable(self._lost or "the database server cannot be reached")
        assert self._postgres is not None
        try:
            self._listener = _listen(self._postgres)
        except psycopg2.Error as exc:
            self._drop_listener(exc)
            raise DatabaseUnreachable(self._lost) from exc
        self._relisten_delay, self._lost = RELISTEN_FIRST_S, None

    def _drop_listener(self, exc: BaseException) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):  # it is broken already
                self._listener.close()
            self._listener = None
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        self._lost = f"the database server cannot be reached ({first_line})"
        self._relisten_at = time.monotonic() + self._relisten_delay
        self._relisten_delay = min(self._relisten_delay * 2, RELISTEN_MAX_S)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _listen(database: PostgresqlDatabase):
    """Its own autocommit connection, LISTENing on the project's change channel."""
    import psycopg2

    connection = psycopg2.connect(
        dbname=database.database, connect_timeout=5, **database.connect_params
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {CHANGES_CHANNEL}")
    return connection
