"""The daemons serving a project from several machines, as rows in the project database.

With a shared queue (``queue_url``) several daemons serve one project, on one machine or many,
and the files in ``.vidpipe/`` (lock, heartbeat) can no longer say who runs: each daemon names
itself ``host:pid`` (the owner name of the run leases it takes, vidpipe.pipeline.runs) and rewrites its
row (a :class:`KeyValue` under ``daemon:NAME``) every few seconds with what it works on. A row
not rewritten for :data:`STALE_S` belongs to a daemon that is gone (killed, its machine down).
Heartbeats are stamped, and their age measured, by the database server's clock
(vidpipe.store.clock): a machine whose clock is off neither looks dead nor looks alive for ever.
"""

from __future__ import annotations

from dataclasses import dataclass

from vidpipe.store.clock import seconds_since, server_now
from vidpipe.store.models import KeyValue

KEY_PREFIX = "daemon:"
#: Seconds between two heartbeats of a daemon in the database.
HEARTBEAT_S = 3.0
#: A daemon whose row is older than this is not responding.
STALE_S = 15.0
#: Rows of daemons gone for this long are dropped from the list.
FORGET_S = 24 * 3600.0


@dataclass(frozen=True)
class DaemonEntry:
    name: str  # "host:pid"
    started_at: str | None
    state: str  # running | stopped
    current_run: int | None
    queue: dict
    age_s: float

    @property
    def host(self) -> str:
        return self.name.rpartition(":")[0]

    @property
    def pid(self) -> int | None:
        pid = self.name.rpartition(":")[2]
        return int(pid) if pid.isdigit() else None

    @property
    def responding(self) -> bool:
        return self.state == "running" and self.age_s < STALE_S

    def describe(self) -> str:
        if self.state != "running":
            return f"{self.name}: stopped {self.age_s:.0f}s ago"
        work = f"working on run #{self.current_run}" if self.current_run else "idle"
        health = "" if self.responding else " (NOT RESPONDING: gone?)"
        return (
            f"{self.name}: since {self.started_at}, heartbeat {self.age_s:.1f}s ago, {work}{health}"
        )


def beat(
    name: str, started_at: str, current_run: int | None, queue: dict, state: str = "running"
) -> None:
    """Write this daemon's row (an upsert: one row per daemon)."""
    value = {"started_at": started_at, "state": state, "current_run": current_run, "queue": queue}
    (
        KeyValue.insert(key=KEY_PREFIX + name, value=value, updated_at=server_now())
        .on_conflict(
            conflict_target=[KeyValue.key],
            update={KeyValue.value: value, KeyValue.updated_at: server_now()},
        )
        .execute()
    )


def daemons() -> list[DaemonEntry]:
    """Every daemon seen within :data:`FORGET_S`, longest-running first."""
    entries = []
    for row in list(
        KeyValue.select(KeyValue, seconds_since(KeyValue.updated_at).alias("age")).where(
            KeyValue.key.startswith(KEY_PREFIX)
        )
    ):
        age = float(row.age)
        if age > FORGET_S:
            continue
        value = row.value if isinstance(row.value, dict) else {}
        current, queue = value.get("current_run"), value.get("queue")
        entries.append(
            DaemonEntry(
                name=row.key[len(KEY_PREFIX) :],
                started_at=value.get("started_at"),
                state=str(value.get("state", "running")),
                current_run=current if isinstance(current, int) else None,
                queue=queue if isinstance(queue, dict) else {},
                age_s=max(0.0, age),
            )
        )
    return sorted(entries, key=lambda e: (e.started_at or "", e.name))


@dataclass(frozen=True)
class TeamStatus:
    """The daemons of a shared-queue project, for a front end: what the database rows say
    (in SQLite mode :class:`vidpipe.ops.daemon_state.DaemonStatus` says it from the lock file)."""

    entries: tuple[DaemonEntry, ...]

    @property
    def serving(self) -> list[DaemonEntry]:
        return [e for e in self.entries if e.responding]

    @property
    def silent(self) -> list[DaemonEntry]:
        """Daemons that never said they stopped and stopped beating: killed, or their box down."""
        return [e for e in self.entries if e.state == "running" and not e.responding]

    @property
    def running(self) -> bool:
        return bool(self.serving)


def team_status() -> TeamStatus:
    """One query of the project database (the bound ``db``)."""
    return TeamStatus(tuple(daemons()))
