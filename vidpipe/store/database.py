"""Binding the models to a real database, and versioned schema migrations.

SQLite is opened in WAL mode with a busy timeout so the daemon, the TUI and the CLI can all use
one project file at once: readers never block the writer, and a writer waits (instead of failing
with "database is locked") while another commits. Keep write transactions short.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from peewee import DatabaseError as PeeweeDatabaseError
from peewee import OperationalError as PeeweeOperationalError
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as apply_migrations

from vidpipe.errors import ConfigError, DiskFull, ProjectError
from vidpipe.store.foreign_objects import (
    describe_foreign,
    foreign_objects,
    refuse_foreign_objects,
    triggers_and_views,
)
from vidpipe.store.fencing import FencedWrites
from vidpipe.store.models import ALL_MODELS, Asset, FieldEdit, Run, SchemaInfo, db
from vidpipe.store.reconnect import ResilientPostgresqlDatabase
from vidpipe.store.safe_io import disk_full_message
from vidpipe.store.sqlite_file import (
    SQLITE_COMPANIONS,  # noqa: F401 (SQLITE_COMPANIONS: the daemon's)
    PinnedSqliteDatabase,
    check_sqlite_files,
)
from vidpipe.store.sqlite_safety import SnapshotSafeConnection

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",  # safe with WAL: a crash loses at most the last commit, never corrupts
    "busy_timeout": 30_000,
    "cache_size": -16_000,
}

SCHEMA_VERSION = 8
#: PostgreSQL advisory lock key serialising schema creation and migrations ("vidp" in ASCII).
MIGRATION_LOCK_KEY = 0x76696470


def _index_asset_file_path(database: Database) -> None:
    """v2: ingest and the watcher look assets up by path; without an index each lookup scans."""
    database.execute_sql('CREATE INDEX IF NOT EXISTS "asset_file_path" ON "asset" ("file_path")')


def _add_prompt_usage(database: Database) -> None:
    """v3: tokens and cost of every Gemini response, per run and per asset."""
    from vidpipe.store.models import PromptUsage

    database.create_tables([PromptUsage], safe=True)


def _add_gemini_batches(database: Database) -> None:
    """v4: Gemini Batch API jobs, recorded before submission so a restart resumes them."""
    from vidpipe.store.models import GeminiBatch

    database.create_tables([GeminiBatch], safe=True)


def _add_run_lease(database: Database) -> None:
    """v5: a running run holds a lease (owner, expiry) so an abandoned one can be told apart."""
    migrator = SchemaMigrator.from_database(database)
    apply_migrations(
        migrator.add_column("run", "lease_owner", Run.lease_owner),
        migrator.add_column("run", "lease_expires_at", Run.lease_expires_at),
    )


def _add_characters(database: Database) -> None:
    """v6: project-wide characters (face groups with handles), their edits, and per image the
    character, its role, the face landmarks and the sharpness."""
    from vidpipe.store.models import Asset, Character, CharacterEdit

    database.create_tables([Character, CharacterEdit], safe=True)
    migrator = SchemaMigrator.from_database(database)
    apply_migrations(
        migrator.add_column("asset", "character_id", Asset.character),
        migrator.add_column("asset", "character_role", Asset.character_role),
        migrator.add_column("asset", "face_landmarks", Asset.face_landmarks),
        migrator.add_column("asset", "sharpness", Asset.sharpness),
    )


def _add_review_people(database: Database) -> None:
    """v7: who reviewed an asset and when; who made a person's edit (a team shares a project)."""
    migrator = SchemaMigrator.from_database(database)
    apply_migrations(
        migrator.add_column("asset", "reviewed_by", Asset.reviewed_by),
        migrator.add_column("asset", "reviewed_at", Asset.reviewed_at),
        migrator.add_column("field_edit", "person", FieldEdit.person),
    )


def _add_stable_tag_numbering(database: Database) -> None:
    """v8: tags stop being renumbered. Every series' high-water mark is kept (NumberCounter),
    and edits made by one action share a change id. Existing tags stay as they are: the
    counters start empty and the numbers in use count as taken (see vidpipe.store.numbering)."""
    from vidpipe.store.models import FieldEdit, NumberCounter

    database.create_tables([NumberCounter], safe=True)
    migrator = SchemaMigrator.from_database(database)
    apply_migrations(migrator.add_column("field_edit", "change", FieldEdit.change))


# version -> function that upgrades a database from version-1 to version. Append, never edit.
# A new database is created at SCHEMA_VERSION directly from the models, which must therefore
# already carry every change a migration makes.
MIGRATIONS: dict[int, Callable[[Database], None]] = {
    2: _index_asset_file_path,
    3: _add_prompt_usage,
    4: _add_gemini_batches,
    5: _add_run_lease,
    6: _add_characters,
    7: _add_review_people,
    8: _add_stable_tag_numbering,
}


class FencedSqliteDatabase(FencedWrites, PinnedSqliteDatabase):
    """The SQLite database vidpipe binds: a run's writes carry its lease check
    (vidpipe.store.fencing). A file has no connection to lose; its disk can fill up."""

    def execute_sql(self, sql, params=None):
        with _full_disk_interrupts():
            return super().execute_sql(sql, params)

    def commit(self):
        with _full_disk_interrupts():
            return super().commit()

    def rollback(self):
        # SQLite rolls a transaction back by itself on some errors (SQLITE_FULL among them):
        # a ROLLBACK then fails with "no transaction is active" and would hide the real error.
        conn = self._state.conn
        if conn is not None and not conn.in_transaction:
            return None
        return super().rollback()


@contextmanager
def _full_disk_interrupts() -> Iterator[None]:
    """A write SQLite refused for want of space is DiskFull (a run interruption, which the
    per-item error handlers do not swallow), not an operational error of one item."""
    try:
        yield
    except PeeweeOperationalError as exc:
        if _disk_full(exc):
            raise DiskFull(disk_full_message(f"the database could not be written: {exc}")) from exc
        raise


def _disk_full(exc: Exception) -> bool:
    return "database or disk is full" in str(exc).lower()  # SQLITE_FULL


def make_database(url: str) -> Database:
    """A peewee database for ``sqlite:///path`` or ``postgresql://user:pw@host/db``. PostgreSQL
    connections reopen by themselves when the server restarts (vidpipe.store.reconnect)."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///") :]
        # timeout is the sqlite3 module's own busy wait, in seconds. Transactions begin
        # IMMEDIATE (take the write lock up front, waiting for it under the busy timeout): a
        # deferred transaction that reads then writes fails at once with "database is locked"
        # when another process committed in between, and no busy timeout can save it. For the
        # same reason no read may stay open across a write: SnapshotSafeConnection's cursors
        # read every result to the end when the statement runs (see vidpipe.store.sqlite_safety).
        return FencedSqliteDatabase(
            path,
            pragmas=SQLITE_PRAGMAS,
            timeout=30,
            check_same_thread=False,
            lock_type="IMMEDIATE",
            factory=SnapshotSafeConnection,
        )
    if parsed.scheme in ("postgres", "postgresql"):
        from vidpipe.extras import require

        require("scale", "a PostgreSQL database_url", ("psycopg2",))
        return ResilientPostgresqlDatabase(
            parsed.path.lstrip("/"),
            user=parsed.username,
            password=parsed.password,
            host=parsed.hostname,
            port=parsed.port or 5432,
        )
    raise ConfigError(
        f"setting 'database_url': unsupported database URL {url!r} "
        "(use sqlite:///PATH or postgresql://...)"
    )


#: Advisory lock key of ingest's look-up-then-insert ("vidi"): see :func:`serialize_writers`.
INGEST_LOCK_KEY = 0x76696469


def serialize_writers(key: int) -> None:
    """Inside a transaction: wait until no other transaction holding ``key`` is open.

    SQLite transactions already begin IMMEDIATE (one writer at a time). PostgreSQL lets two
    transactions read and write at once, so a "look up, insert if missing" done by daemons on
    two machines would insert twice without this lock (released when the transaction ends)."""
    if isinstance(db.obj, PostgresqlDatabase):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (key,))


#: PostgreSQL: commits touching these tables send a NOTIFY on CHANGES_CHANNEL, so a front end
#: on another machine hears about progress and edits without polling tables (SQLite front ends
#: ask PRAGMA data_version instead).
CHANGES_CHANNEL = "vidpipe_changes"
NOTIFYING_TABLES = (
    "manifest",
    "asset",
    "field_edit",
    "run",
    "stage_progress",
    "item_error",
    "prompt_usage",
    "character",
    "character_edit",
)


def ensure_change_notifications(database: Database) -> None:
    """Create the PostgreSQL triggers behind CHANGES_CHANNEL where they are missing. Statement
    triggers, and PostgreSQL folds equal notifications of one transaction into one: a commit
    costs one notification per table it touched, not one per row."""
    if not isinstance(database, PostgresqlDatabase):
        return
    present = {
        name
        for (name,) in database.execute_sql(
            "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'vidpipe_notify_%%'"
        ).fetchall()
    }
    missing = [t for t in NOTIFYING_TABLES if f"vidpipe_notify_{t}" not in present]
    if not missing:
        return
    with database.atomic():
        database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        database.execute_sql(
            "CREATE OR REPLACE FUNCTION vidpipe_notify_change() RETURNS trigger AS $$ "
            f"BEGIN PERFORM pg_notify('{CHANGES_CHANNEL}', TG_TABLE_NAME); RETURN NULL; END; "
            "$$ LANGUAGE plpgsql"
        )
        for table in missing:
            database.execute_sql(
                f'CREATE OR REPLACE TRIGGER "vidpipe_notify_{table}" AFTER INSERT OR UPDATE OR '
                f'DELETE ON "{table}" FOR EACH STATEMENT EXECUTE FUNCTION vidpipe_notify_change()'
            )


def open_database(url: str) -> Database:
    """Bind the models to ``url``, create or migrate the schema, and return the database.

    A database that cannot be used (damaged, not SQLite, read-only, a symlink or a folder at
    its name) raises ProjectError with one line saying which and what to do."""
    database = make_database(url)
    path = Path(database.database) if isinstance(database, SqliteDatabase) else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        check_sqlite_files(path)
    db.initialize(database)
    try:
        database.connect(reuse_if_open=True)
        refuse_foreign_objects(database, path)
        migrate(database)
        ensure_change_notifications(database)
    except ProjectError:
        if not database.is_closed():
            database.close()
        raise
    except (PeeweeDatabaseError, sqlite3.DatabaseError) as exc:
        if not database.is_closed():
            database.close()
        raise ProjectError(describe_database_error(exc, path or url)) from None
    return database


def ensure_writable(database: Database) -> None:
    """ProjectError unless the database accepts writes (a read-only SQLite file opens and
    reads fine, and fails only at the first write: a daemon should say so at start-up)."""
    if not isinstance(database, SqliteDatabase):
        return
    try:
        with database.atomic(lock_type="IMMEDIATE") as transaction:
            database.execute_sql('CREATE TABLE "vidpipe_write_probe" (x)')
            transaction.rollback()
    except (PeeweeDatabaseError, sqlite3.DatabaseError) as exc:
        raise ProjectError(describe_database_error(exc, database.database)) from None


def describe_database_error(exc: BaseException, where: Path | str | None = None) -> str:
    """One line for a person: what is wrong with the database at ``where`` and what to do."""
    name = f"the project database {where}" if where else "the project database"
    return (
        f"{name} {database_problem(exc)}. Restore it from a backup, or move it aside "
        "to start afresh (`vidpipe doctor PROJECT` checks it)"
    )


def database_problem(exc: BaseException) -> str:
    """What a SQLite error says about the file, as "is ..." for a sentence about it."""
    text = str(exc)
    lowered = text.lower()
    if "file is not a database" in lowered or "not a database" in lowered:
        what = "is not a SQLite database (damaged or replaced)"
    elif "malformed" in lowered or "corrupt" in lowered:
        what = f"is damaged ({text})"
    elif "readonly" in lowered or "read-only" in lowered:
        what = (
            "is read-only: vidpipe must write to it and to its folder (for the -wal and "
            "-shm files); check the permissions of both"
        )
    elif "unable to open" in lowered:
        what = "cannot be opened (is its folder writable?)"
    elif "no such table" in lowered or "no such column" in lowered:
        what = f"does not have vidpipe's tables ({text})"
    else:
        what = f"cannot be used ({text})"
    return what


def schema_version(database: Database) -> int:
    if not database.table_exists(SchemaInfo._meta.table_name):
        return 0
    row = SchemaInfo.get_or_none(SchemaInfo.key == "schema_version")
    if row is None:
        return 0
    try:
        return int(row.value)
    except (TypeError, ValueError):
        raise ProjectError(
            f"the project database's schema version {row.value!r} is not a "
            "number; the database was not written by vidpipe"
        ) from None


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
    # Take a lock first, then look again, so two processes starting at once (daemon and TUI
    # after an upgrade, daemons on two boxes) never both run the same migration: SQLite's write
    # lock; on PostgreSQL an advisory lock held until the transaction ends (DDL is transactional
    # there too, so a failed migration leaves nothing behind).
    lock = {"lock_type": "IMMEDIATE"} if isinstance(database, SqliteDatabase) else {}
    with database.atomic(**lock):
        if isinstance(database, PostgresqlDatabase):
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        found = schema_version(database)
        if found == SCHEMA_VERSION:
            return found
        if found == 0:
            database.create_tables(ALL_MODELS, safe=True)
        else:
            for version in range(found + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](database)
        (
            SchemaInfo.insert(key="schema_version", value=str(SCHEMA_VERSION))
            .on_conflict(
                conflict_target=[SchemaInfo.key], update={SchemaInfo.value: str(SCHEMA_VERSION)}
            )
            .execute()
        )
    return found


@dataclass(frozen=True)
class SqliteHealth:
    """What `vidpipe doctor` found in a SQLite file (``problem`` None: it reads fine)."""

    problem: str | None
    schema_version: int | None = None
    foreign: list[tuple[str, str]] | None = None  # what vidpipe did not create, if that is it


def inspect_sqlite(path: Path, schema_table: str | None = "schema_info") -> SqliteHealth:
    """Open ``path`` read-only, run SQLite's quick integrity check and read vidpipe's schema
    version (from ``schema_table``). Never writes, never creates the file."""
    try:
        check_sqlite_files(path)
    except ProjectError as exc:
        return SqliteHealth(str(exc))
    try:
        connection = sqlite3.connect(
            f"file:{quote(str(path))}?mode=ro&nofollow=1", uri=True, timeout=5
        )
    except sqlite3.Error as exc:
        return SqliteHealth(database_problem(exc))
    try:
        rows = [row[0] for row in connection.execute("PRAGMA quick_check(5)")]
        if rows != ["ok"]:
            return SqliteHealth("integrity check failed: " + "; ".join(map(str, rows)))
        if schema_table is None:  # not vidpipe's schema (the queue): none of these is its own
            planted = triggers_and_views(connection)
            return SqliteHealth(describe_foreign(planted) if planted else None, foreign=planted)
        objects = foreign_objects(connection)
        if objects:
            return SqliteHealth(describe_foreign(objects), foreign=objects)
        try:
            row = connection.execute(
                f"SELECT value FROM \"{schema_table}\" WHERE key = 'schema_version'"
            ).fetchone()
        except sqlite3.OperationalError:
            return SqliteHealth("has no vidpipe schema table (not a vidpipe database?)")
        try:
            return SqliteHealth(None, int(row[0]) if row else 0)
        except (TypeError, ValueError):
            return SqliteHealth(f"schema version {row[0]!r} is not a number")
    except sqlite3.Error as exc:
        return SqliteHealth(database_problem(exc))
    finally:
        connection.close()
