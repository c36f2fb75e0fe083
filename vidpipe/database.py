"""Binding the models to a real database, and versioned schema migrations.

SQLite is opened in WAL mode with a busy timeout so the daemon, the TUI and the CLI can all use
one project file at once: readers never block the writer, and a writer waits (instead of failing
with "database is locked") while another commits. Keep write transactions short.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from peewee import Database, PostgresqlDatabase, SqliteDatabase

from vidpipe.errors import ProjectError
from vidpipe.models import ALL_MODELS, SchemaInfo, db
from vidpipe.sqlite_safety import SnapshotSafeConnection

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",  # safe with WAL: a crash loses at most the last commit, never corrupts
    "busy_timeout": 30_000,
    "cache_size": -16_000,
}

SCHEMA_VERSION = 4


def _index_asset_file_path(database: Database) -> None:
    """v2: ingest and the watcher look assets up by path; without an index each lookup scans."""
    database.execute_sql('CREATE INDEX IF NOT EXISTS "asset_file_path" ON "asset" ("file_path")')


def _add_prompt_usage(database: Database) -> None:
    """v3: tokens and cost of every Gemini response, per run and per asset."""
    from vidpipe.models import PromptUsage

    database.create_tables([PromptUsage], safe=True)


def _add_gemini_batches(database: Database) -> None:
    """v4: Gemini Batch API jobs, recorded before submission so a restart resumes them."""
    from vidpipe.models import GeminiBatch

    database.create_tables([GeminiBatch], safe=True)


# version -> function that upgrades a database from version-1 to version. Append, never edit.
# A new database is created at SCHEMA_VERSION directly from the models, which must therefore
# already carry every change a migration makes.
MIGRATIONS: dict[int, Callable[[Database], None]] = {
    2: _index_asset_file_path,
    3: _add_prompt_usage,
    4: _add_gemini_batches,
}


def make_database(url: str) -> Database:
    """A peewee database for ``sqlite:///path`` or ``postgresql://user:pw@host/db``."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///"):]
        # timeout is the sqlite3 module's own busy wait, in seconds. Transactions begin
        # IMMEDIATE (take the write lock up front, waiting for it under the busy timeout): a
        # deferred transaction that reads then writes fails at once with "database is locked"
        # when another process committed in between, and no busy timeout can save it. For the
        # same reason no read may stay open across a write: SnapshotSafeConnection's cursors
        # read every result to the end when the statement runs (see vidpipe.sqlite_safety).
        return SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, timeout=30, check_same_thread=False,
                              lock_type="IMMEDIATE", factory=SnapshotSafeConnection)
    if parsed.scheme in ("postgres", "postgresql"):
        return PostgresqlDatabase(
            parsed.path.lstrip("/"),
            user=parsed.username,
            password=parsed.password,
            host=parsed.hostname,
            port=parsed.port or 5432,
            autorollback=True,
        )
    raise ValueError(f"unsupported database URL {url!r} (use sqlite:///PATH or postgresql://...)")


def open_database(url: str) -> Database:
    """Bind the models to ``url``, create or migrate the schema, and return the database."""
    database = make_database(url)
    if isinstance(database, SqliteDatabase):
        Path(database.database).parent.mkdir(parents=True, exist_ok=True)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    migrate(database)
    return database


def schema_version(database: Database) -> int:
    if not database.table_exists(SchemaInfo._meta.table_name):
        return 0
    row = SchemaInfo.get_or_none(SchemaInfo.key == "schema_version")
    return int(row.value) if row else 0


def migrate(database: Database) -> int:
    """Bring the schema to SCHEMA_VERSION; returns the version found before."""
    found = schema_version(database)
    if found > SCHEMA_VERSION:
        raise ProjectError(
            f"this project database has schema version {found}, newer than this vidpipe "
            f"({SCHEMA_VERSION}); upgrade vidpipe"
        )
    if found == SCHEMA_VERSION:
        return found
    # SQLite: take the write lock first, then look again, so two processes starting at once
    # (daemon and TUI after an upgrade) never both run the same migration.
    lock = {"lock_type": "IMMEDIATE"} if isinstance(database, SqliteDatabase) else {}
    with database.atomic(**lock):
        found = schema_version(database)
        if found == SCHEMA_VERSION:
            return found
        if found == 0:
            database.create_tables(ALL_MODELS, safe=True)
        else:
            for version in range(found + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](database)
        SchemaInfo.replace(key="schema_version", value=str(SCHEMA_VERSION)).execute()
    return found
