"""Only databases vidpipe made: what a SQLite project database holds beyond vidpipe's schema.

A database travels with the project folder, so someone else may have added to it: a trigger
runs with every write (turning a person's edit into the attacker's text, or growing the file
without end), a view can stand in for a table, a table of their own can fill the disk. vidpipe
refuses such a database at open (:func:`refuse_foreign_objects`), ``vidpipe doctor`` lists what
it holds, and ``vidpipe doctor --drop-foreign`` removes it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import quote

from peewee import Database, SqliteDatabase

from vidpipe.errors import ProjectError
from vidpipe.store.models import ALL_MODELS
from vidpipe.store.sqlite_file import check_sqlite_files


def vidpipe_objects() -> set[tuple[str, str]]:
    """(type, name) of every table and index vidpipe's schema has."""
    objects = set()
    for model in ALL_MODELS:
        objects.add(("table", model._meta.table_name))
        objects.update(("index", index._name) for index in model._meta.fields_to_index())
    return objects


def foreign_objects(connection) -> list[tuple[str, str]]:
    """(type, name) of what a SQLite database holds beyond vidpipe's schema: triggers, views,
    tables and indexes it did not create (SQLite's own ``sqlite_*`` aside). ``connection``: a
    sqlite3 connection or a peewee database."""
    run = getattr(connection, "execute_sql", None) or connection.execute
    rows = run("SELECT type, name FROM sqlite_master").fetchall()
    ours = vidpipe_objects()
    return sorted(
        (kind, name)
        for kind, name in rows
        if not name.startswith("sqlite_") and (kind, name) not in ours
    )


def triggers_and_views(connection) -> list[tuple[str, str]]:
    """The triggers and views of a SQLite database whose tables are not vidpipe's (the queue's,
    made by Huey, which creates neither)."""
    return sorted(
        connection.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view')"
        ).fetchall()
    )


def describe_foreign(objects: list[tuple[str, str]]) -> str:
    shown = ", ".join(f"{kind} {printable_name(name)}" for kind, name in objects[:8])
    more = f" and {len(objects) - 8} more" if len(objects) > 8 else ""
    return f"holds what vidpipe never creates ({shown}{more})"


def printable_name(name: str) -> str:
    return repr(name) if not name.isprintable() or len(name) > 60 else name


def refuse_foreign_objects(database: Database, path: Path | None) -> None:
    """ProjectError, before anything is read or written, when a SQLite project database holds
    triggers, views, tables or indexes vidpipe did not create: a trigger runs with every write
    (rewriting an edit, growing the file without end), a view can stand in for a table."""
    if not isinstance(database, SqliteDatabase):
        return
    objects = foreign_objects(database)
    if objects:
        raise ProjectError(
            f"the project database {path} {describe_foreign(objects)}: it was changed outside "
            "vidpipe, and vidpipe does not use it so. Run `vidpipe doctor PROJECT --drop-foreign` "
            "to remove them (it lists each first), or restore the database from a backup"
        )


def drop_foreign_objects(path: Path) -> list[tuple[str, str]]:
    """Remove, from the SQLite database at ``path``, what :func:`foreign_objects` finds;
    returns what it removed. Triggers and views first (they name the tables)."""
    check_sqlite_files(path)
    connection = sqlite3.connect(
        f"file:{quote(str(path))}?nofollow=1&mode=rw", uri=True, timeout=30, isolation_level=None
    )
    try:
        objects = foreign_objects(connection)
        order = {"trigger": 0, "view": 1, "index": 2, "table": 3}
        connection.execute("BEGIN IMMEDIATE")
        for kind, name in sorted(objects, key=lambda o: order.get(o[0], 4)):
            quoted = name.replace('"', '""')
            connection.execute(f'DROP {kind.upper()} IF EXISTS "{quoted}"')
        connection.execute("COMMIT")
        return objects
    finally:
        connection.close()
