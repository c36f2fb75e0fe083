"""Fencing: the writes of a run's work are refused by the database once the run is not ours.

A daemon frozen (SIGSTOP, a VM paused, a database out of reach) past its lease may wake up
after another daemon took its run over. Checking "do I still hold it?" before writing leaves a
gap between the check and the write; instead, while a run's work is :func:`fenced`, every write
statement on that work's threads runs inside a transaction that first reads the run's row with
the lease condition (owner is this process, status RUNNING, not expired by the server's clock)
and, on PostgreSQL, holds that row ``FOR SHARE`` until it commits. A take-over is an UPDATE of
that row, so it waits for the write to commit or happens before it, and then the write's check
fails: no write of ours lands after another process took the run. SQLite transactions begin
IMMEDIATE (one writer at a time), so the same check in the same transaction suffices there.

The fence is a context variable: the threads a run's work starts must carry it
(:func:`carrying_fence`); other threads of the process (the folder watcher, the heartbeat, the
lease renewal) write unfenced.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from peewee import Database, PostgresqlDatabase

from vidpipe.errors import LeaseLost

T = TypeVar("T")


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@dataclass
class RunFence:
    run_id: int
    owner: str
    #: thread id -> the outermost transaction whose lease check passed on that thread
    checked: dict[int, object] = field(default_factory=dict)


_current: contextvars.ContextVar[RunFence | None] = contextvars.ContextVar(
    "vidpipe_run_fence", default=None
)


@contextmanager
def fenced(run_id: int, owner: str) -> Iterator[RunFence]:
    """Within the block (and the threads that carry its context), writes need the lease."""
    fence = RunFence(run_id, owner)
    token = _current.set(fence)
    try:
        yield fence
    finally:
        _current.reset(token)


def carrying_fence(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` run in a copy of the caller's context, fence included: for the target of a
    thread or an executor job doing the run's work (threads start with an empty context)."""
    context = contextvars.copy_context()

    def run(*args, **kwargs) -> T:
        return context.copy().run(function, *args, **kwargs)

    return run


def _is_write(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(_WRITES)


class FencedWrites(Database):
    """Database mixin: write statements under a fence carry the lease check (see module doc)."""

    def execute_sql(self, sql, params=None):
        fence = _current.get()
        if fence is None or not _is_write(sql):
            return super().execute_sql(sql, params)
        if self.in_transaction():
            self._check_lease(fence)
            return super().execute_sql(sql, params)
        with self.atomic():
            self._check_lease(fence)
            return super().execute_sql(sql, params)

    def _check_lease(self, fence: RunFence) -> None:
        outermost = self._state.transactions[0]
        thread = threading.get_ident()
        if fence.checked.get(thread) is outermost:
            return
        if isinstance(self, PostgresqlDatabase):
            now, lock = "(clock_timestamp() AT TIME ZONE 'UTC')", " FOR SHARE"
        else:
            now, lock = "strftime('%Y-%m-%d %H:%M:%f', 'now')", ""
        p = self.param
        row = (
            super()
            .execute_sql(
                f'SELECT 1 FROM "run" WHERE "id" = {p} AND "status" = {p} AND "lease_owner" = {p} '
                f'AND "lease_expires_at" > {now}{lock}',
                (fence.run_id, "running", fence.owner),
            )
            .fetchone()
        )
        if row is None:
            raise LeaseLost(
                f"run #{fence.run_id} is no longer leased to {fence.owner} (taken "
                "over by another process, or its lease ran out); this process "
                "writes nothing more for it"
            )
        fence.checked[thread] = outermost
