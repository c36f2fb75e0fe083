"""PostgreSQL connections that come back by themselves after the server restarts.

peewee keeps one connection per thread and never reopens it: after ``pg_ctl restart`` every
later statement fails with "connection already closed". Here, at the one place statements are
executed, a statement that finds its connection lost reopens it, with backoff, and runs again,
for up to :attr:`ReconnectingDatabase.patience_s`; then it raises :class:`DatabaseUnreachable`,
and the caller's unit of work (a heartbeat round, a lease renewal, a run, a TUI refresh) is
tried again whole by its owner.

Not inside a transaction: the server rolled the transaction back when the connection went, so
running its remaining statements on a new connection would commit half of it. There the loss
raises :class:`DatabaseUnreachable` at once and the transaction's block unwinds (its rollback
is a no-op: there is nothing left to roll back). peewee's own ``ReconnectMixin`` has the same
rule, but retries only once and only knows MySQL's error codes.

A statement sent just before the connection dropped may have been committed without the reply
arriving; the retry then runs it twice. The writes retried this way are the pipeline's, which
are idempotent (upserts, conditional UPDATEs, "only what is missing").
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from peewee import InterfaceError, OperationalError, PostgresqlDatabase

from vidpipe.errors import DatabaseUnreachable
from vidpipe.store.fencing import FencedWrites

log = logging.getLogger(__name__)


#: Set while this thread runs a statement under :meth:`ReconnectingDatabase._retrying`: the
#: connect() inside it must not wait on its own as well.
_retrying_here = threading.local()

#: Seconds between reconnection attempts: doubling from the first, capped at the last.
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 2.0


class ReconnectingDatabase(PostgresqlDatabase):
    """Database mixin (PostgreSQL): reopen a lost connection and retry, outside transactions."""

    #: How long one statement waits for the server to answer again before giving up.
    patience_s = 5.0

    def connect(self, reuse_if_open=False):
        return self._retrying(super().connect, reuse_if_open)

    def execute_sql(self, sql, params=None):
        return self._retrying(super().execute_sql, sql, params)

    def begin(self, *args, **kwargs):
        return self._retrying(super().begin, *args, **kwargs)

    def commit(self):
        try:
            return super().commit()
        except (OperationalError, InterfaceError) as exc:
            if self.connection_lost():
                raise DatabaseUnreachable(self.describe_loss(exc)) from exc
            raise

    def rollback(self):
        if self.connection_lost():
            return  # the server rolled the transaction back when the connection went
        return super().rollback()

    def connection_lost(self) -> bool:
        conn = self._state.conn
        return conn is None or bool(getattr(conn, "closed", False))

    def describe_loss(self, exc: BaseException) -> str:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = self.connect_params.get("host") or "local socket"
        port = self.connect_params.get("port")
        return (
            f"the database server {where}{f':{port}' if port else ''}/{self.database} "
            f"cannot be reached ({first_line})"
        )

    def _forget_connection(self) -> None:
        conn = self._state.conn
        if conn is not None:
            with contextlib.suppress(Exception):  # it is broken already; only its socket is freed
                conn.close()
        self._state.reset()

    def _retrying(self, function, *args, **kwargs):
        if getattr(_retrying_here, "active", False):
            return function(*args, **kwargs)  # the outer call (a statement) does the retrying
        _retrying_here.active = True
        try:
            return self._retry_loop(function, *args, **kwargs)
        finally:
            _retrying_here.active = False

    def _retry_loop(self, function, *args, **kwargs):
        deadline = None
        delay = BACKOFF_FIRST_S
        lost_at = None
        while True:
            try:
                result = function(*args, **kwargs)
            except (OperationalError, InterfaceError, DatabaseUnreachable) as exc:
                if not (isinstance(exc, DatabaseUnreachable) or self.connection_lost()):
                    raise  # a real error on a live connection (a constraint, a syntax error)
                if self.in_transaction():
                    if isinstance(exc, DatabaseUnreachable):
                        raise
                    raise DatabaseUnreachable(self.describe_loss(exc)) from exc
                self._forget_connection()
                now = time.monotonic()
                deadline = deadline if deadline is not None else now + self.patience_s
                if now >= deadline:
                    if isinstance(exc, DatabaseUnreachable):
                        raise
                    raise DatabaseUnreachable(self.describe_loss(exc)) from exc
                lost_at = lost_at if lost_at is not None else now
                time.sleep(min(delay, max(0.0, deadline - now)))
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            if lost_at is not None:
                log.info(
                    "database connection lost and reopened (%.1f s)", time.monotonic() - lost_at
                )
            return result


class ResilientPostgresqlDatabase(ReconnectingDatabase, FencedWrites, PostgresqlDatabase):
    """The PostgreSQL database vidpipe binds: reconnecting, with fenced run writes."""


def wait_for_database(database, should_stop) -> bool:
    """Block until ``database`` answers a trivial query (True), or ``should_stop()`` (False).
    Each try waits up to the database's patience with backoff, so a stop is seen within it."""
    while not should_stop():
        try:
            database.execute_sql("SELECT 1")
            return True
        except DatabaseUnreachable:
            continue
    return False


class OutageLog:
    """Log an outage once when it begins and once when it ends, never once per retry: a daemon
    retrying every few seconds through a 10-minute database restart writes two lines, not 200.
    A different error during the outage is logged once too (the state changed)."""

    def __init__(self, logger: logging.Logger, what: str):
        self.logger = logger
        self.what = what
        self.since: float | None = None
        self._last = ""

    def failed(self, exc: BaseException) -> None:
        text = f"{type(exc).__name__}: {exc}".strip()
        if self.since is None:
            self.since = time.monotonic()
        elif text == self._last:
            return
        self._last = text
        # A database away is expected news (no traceback); anything else is a bug to see whole.
        self.logger.warning(
            "%s failed (%s); retrying",
            self.what,
            text,
            exc_info=None if isinstance(exc, DatabaseUnreachable) else exc,
        )

    def succeeded(self) -> None:
        if self.since is not None:
            self.logger.info(
                "%s works again after %.0f s", self.what, time.monotonic() - self.since
            )
            self.since, self._last = None, ""

    @property
    def failing(self) -> bool:
        return self.since is not None
