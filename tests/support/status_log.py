"""A trigger log of every status a run or a stage ever holds in a project database: a reader
polling might miss a state that lasts a millisecond; the trigger cannot."""

from __future__ import annotations

from vidpipe.store.models import StageProgress

STATUS_LOG = [
    "CREATE TABLE status_log (id INTEGER PRIMARY KEY, tbl TEXT, row_id INTEGER, status TEXT)",
    "CREATE TRIGGER run_insert_log AFTER INSERT ON run BEGIN "
    "INSERT INTO status_log (tbl, row_id, status) VALUES ('run', new.id, new.status); END",
    "CREATE TRIGGER run_status_log AFTER UPDATE OF status ON run BEGIN "
    "INSERT INTO status_log (tbl, row_id, status) VALUES ('run', new.id, new.status); END",
    "CREATE TRIGGER stage_status_log AFTER UPDATE OF status ON stageprogress BEGIN "
    "INSERT INTO status_log (tbl, row_id, status) VALUES ('stage', new.run_id, new.status); END",
]


def install_status_log(database) -> None:
    table = StageProgress._meta.table_name
    for sql in STATUS_LOG:
        database.execute_sql(sql.replace("stageprogress", table))


def logged(database, table: str, row_id: int) -> list[str]:
    rows = database.execute_sql(
        "SELECT status FROM status_log WHERE tbl = ? AND row_id = ? ORDER BY id", (table, row_id)
    ).fetchall()
    return [status for (status,) in rows]
