"""The one clock that leases, heartbeats and staleness are measured by: the database server's.

Daemons on several machines compare times they wrote into one database. Each machine's own
clock may be minutes or hours off; a lease written by a box whose clock runs 5 h ahead would
look alive for 5 h to the others, and a box running behind would take over live runs. So every
time written for another process to judge is the server's time at the write, and every judgement
("has this lease expired?", "how old is this heartbeat?") is made by the server in the query.

PostgreSQL: ``clock_timestamp()`` (the time of the statement, not of the transaction's start),
in UTC, as the naive ``timestamp`` peewee's DateTimeField stores. SQLite lives on one box; its
``'now'`` is that box's clock, the same for every process there.
"""

from __future__ import annotations

from datetime import datetime

from peewee import SQL, ColumnBase, Node, NodeList, PostgresqlDatabase, fn

from vidpipe.store.models import db

#: SQLite's text form of a DateTimeField, to the millisecond (sorts with peewee's own).
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%f"


def _postgres() -> bool:
    return isinstance(db.obj, PostgresqlDatabase)


def server_now(offset_s: float = 0.0) -> ColumnBase:
    """The database server's UTC time plus ``offset_s`` seconds, as an SQL expression to write
    into a DateTimeField or compare one with."""
    if _postgres():
        return SQL(
            "(clock_timestamp() AT TIME ZONE 'UTC' + make_interval(secs => %s))", (float(offset_s),)
        )
    return fn.strftime(_SQLITE_FORMAT, "now", f"{float(offset_s):+.3f} seconds")


def seconds_since(column: Node) -> ColumnBase:
    """SQL: how many seconds ago, by the server's clock, the time in ``column`` was."""
    if _postgres():
        return fn.EXTRACT(
            NodeList((SQL("EPOCH FROM (clock_timestamp() AT TIME ZONE 'UTC') -"), column))
        )
    return (fn.julianday("now") - fn.julianday(column)) * 86400.0


def database_now() -> datetime:
    """The server's UTC time, read once (for messages; judge in SQL where you can)."""
    value = db.execute_sql(
        "SELECT clock_timestamp() AT TIME ZONE 'UTC'"
        if _postgres()
        else f"SELECT strftime('{_SQLITE_FORMAT}', 'now')"
    ).fetchone()[0]
    if isinstance(value, datetime):
        return value
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")
