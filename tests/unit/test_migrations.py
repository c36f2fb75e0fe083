"""Schema versions and migrations, on real SQLite files."""

from __future__ import annotations

import threading

import pytest
from peewee import IntegerField, SqliteDatabase
from playhouse.migrate import SqliteMigrator, migrate as run_migrations

from vidpipe.store import database as database_module
from vidpipe.cli import main
from vidpipe.store.database import open_database, schema_version
from vidpipe.errors import ProjectError
from vidpipe.store.models import Asset, Manifest, SchemaInfo


CURRENT = database_module.SCHEMA_VERSION
NEXT = CURRENT + 1


def current_database(path) -> str:
    """A database at today's version with one asset in it."""
    url = f"sqlite:///{path}"
    database = open_database(url)
    manifest = Manifest.create(name="m", folder="m")
    Asset.create(manifest=manifest, name="kept", file_path="m/a.png", content_hash="h")
    database.close()
    return url


def with_next_migration(monkeypatch, migration) -> None:
    """Pretend this vidpipe knows one more schema version than the real one."""
    monkeypatch.setattr(database_module, "SCHEMA_VERSION", NEXT)
    monkeypatch.setattr(
        database_module, "MIGRATIONS", {**database_module.MIGRATIONS, NEXT: migration}
    )


def test_new_database_records_the_current_version(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    assert schema_version(database) == CURRENT
    assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 30_000
    database.close()


def test_registered_migration_upgrades_a_current_database(tmp_path, monkeypatch):
    url = current_database(tmp_path / "old.db")
    calls = []

    def add_rating(database):
        calls.append(schema_version(database))
        migrator = SqliteMigrator(database)
        run_migrations(migrator.add_column("asset", "rating", IntegerField(null=True)))

    with_next_migration(monkeypatch, add_rating)

    database = open_database(url)
    assert calls == [CURRENT]
    assert schema_version(database) == NEXT
    columns = {c.name for c in database.get_columns("asset")}
    assert "rating" in columns
    assert database.execute_sql("SELECT name FROM asset").fetchall() == [("kept",)]
    database.close()
    # Opening again does not migrate twice.
    database = open_database(url)
    assert calls == [CURRENT]
    database.close()


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    url = current_database(tmp_path / "old.db")

    def broken(database):
        database.execute_sql("ALTER TABLE asset ADD COLUMN half_done INTEGER")
        raise RuntimeError("migration bug")

    with_next_migration(monkeypatch, broken)
    with pytest.raises(RuntimeError, match="migration bug"):
        open_database(url)
    check = SqliteDatabase(str(tmp_path / "old.db"))
    assert check.execute_sql("SELECT value FROM schema_info").fetchone() == (str(CURRENT),)
    assert "half_done" not in {c.name for c in check.get_columns("asset")}
    check.close()


def test_concurrent_openers_migrate_once(tmp_path, monkeypatch):
    url = current_database(tmp_path / "old.db")
    calls = []
    gate = threading.Barrier(2)

    def slow(database):
        calls.append(1)
        migrator = SqliteMigrator(database)
        run_migrations(migrator.add_column("asset", "rating", IntegerField(null=True)))

    with_next_migration(monkeypatch, slow)
    errors = []

    # One Database bound to the models, as open_database does; each thread gets its own
    # connection (peewee keeps connection state per thread), like two processes would.
    database = database_module.make_database(url)
    database_module.db.initialize(database)

    def opener():
        gate.wait()
        try:
            database_module.migrate(database)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=opener) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and calls == [1]


def test_newer_database_is_refused_with_a_clear_message(tmp_path, capsys):
    project = tmp_path / "p"
    assert main(["init", str(project)]) == 0
    database = SqliteDatabase(str(project / ".vidpipe" / "vidpipe.db"))
    database.execute_sql("UPDATE schema_info SET value = '99' WHERE key = 'schema_version'")
    database.close()

    with pytest.raises(ProjectError, match="schema version 99, newer than this vidpipe"):
        open_database(f"sqlite:///{project / '.vidpipe' / 'vidpipe.db'}")
    capsys.readouterr()
    assert main(["status", str(project)]) == 2
    err = capsys.readouterr().err
    assert "schema version 99" in err and "upgrade vidpipe" in err
    assert "Traceback" not in err
    assert SchemaInfo._meta.database is not None


def shaped_as_version_7(raw: SqliteDatabase) -> None:
    raw.execute_sql('DROP TABLE "number_counter"')
    raw.execute_sql('DROP INDEX "field_edit_change"')
    raw.execute_sql('ALTER TABLE "field_edit" DROP COLUMN "change"')
    raw.execute_sql("UPDATE schema_info SET value = '7' WHERE key = 'schema_version'")


def shaped_as_version_5(raw: SqliteDatabase) -> None:
    shaped_as_version_6(raw)
    migrator = SqliteMigrator(raw)
    run_migrations(
        *(
            migrator.drop_column("asset", column, legacy=True)
            for column in ("character_id", "character_role", "face_landmarks", "sharpness")
        )
    )
    raw.execute_sql('DROP TABLE "character_edit"')
    raw.execute_sql('DROP TABLE "character"')
    raw.execute_sql("UPDATE schema_info SET value = '5' WHERE key = 'schema_version'")


def shaped_as_version_6(raw: SqliteDatabase) -> None:
    shaped_as_version_7(raw)
    raw.execute_sql('ALTER TABLE "asset" DROP COLUMN "reviewed_by"')
    raw.execute_sql('ALTER TABLE "asset" DROP COLUMN "reviewed_at"')
    raw.execute_sql('ALTER TABLE "field_edit" DROP COLUMN "person"')
    raw.execute_sql("UPDATE schema_info SET value = '6' WHERE key = 'schema_version'")


def test_version_6_database_gets_who_reviewed_and_who_edited(tmp_path):
    """The real v6 -> v7 migration: review marks and person edits say who."""
    from vidpipe.store.edits import edit_field, set_reviewed

    url = current_database(tmp_path / "v6.db")
    raw = SqliteDatabase(str(tmp_path / "v6.db"))
    raw.execute_sql("UPDATE asset SET reviewed = 1")
    shaped_as_version_6(raw)
    raw.close()

    database = open_database(url)
    assert schema_version(database) == CURRENT
    kept = Asset.get(Asset.name == "kept")
    assert kept.reviewed and kept.reviewed_by is None  # marked before anyone was recorded
    set_reviewed([kept.id], True, person="alice")
    assert Asset.get_by_id(kept.id).reviewed_by is None  # already reviewed: unchanged
    set_reviewed([kept.id], False)
    set_reviewed([kept.id], True, person="alice")
    assert Asset.get_by_id(kept.id).reviewed_by == "alice"
    assert edit_field(kept.id, "description", "x", person="bob").person == "bob"
    database.close()


def shaped_as_version_4(raw: SqliteDatabase) -> None:
    shaped_as_version_5(raw)
    raw.execute_sql('ALTER TABLE "run" DROP COLUMN "lease_owner"')
    raw.execute_sql('ALTER TABLE "run" DROP COLUMN "lease_expires_at"')
    raw.execute_sql("UPDATE schema_info SET value = '4' WHERE key = 'schema_version'")


def test_version_1_database_gets_the_file_path_index(tmp_path):
    """The real v1 -> v2 migration, on a database shaped as version 1 wrote it."""
    url = current_database(tmp_path / "v1.db")
    raw = SqliteDatabase(str(tmp_path / "v1.db"))
    shaped_as_version_4(raw)
    raw.execute_sql('DROP INDEX "asset_file_path"')
    raw.execute_sql("UPDATE schema_info SET value = '1' WHERE key = 'schema_version'")
    raw.close()

    database = open_database(url)
    assert schema_version(database) == CURRENT
    assert "asset_file_path" in {index.name for index in database.get_indexes("asset")}
    plan = database.execute_sql(
        "EXPLAIN QUERY PLAN SELECT id FROM asset WHERE file_path = 'm/a.png'"
    ).fetchall()
    assert any("asset_file_path" in str(row) for row in plan)
    assert database.execute_sql("SELECT name FROM asset").fetchall() == [("kept",)]
    database.close()


def test_version_2_database_gets_the_prompt_usage_table(tmp_path):
    """The real v2 -> v3 migration: Gemini usage rows, on a database shaped as version 2 wrote it."""
    from vidpipe.store.models import PromptUsage
    from vidpipe.prompting import ledger

    url = current_database(tmp_path / "v2.db")
    raw = SqliteDatabase(str(tmp_path / "v2.db"))
    shaped_as_version_4(raw)
    raw.execute_sql('DROP TABLE "prompt_usage"')
    raw.execute_sql("UPDATE schema_info SET value = '2' WHERE key = 'schema_version'")
    raw.close()

    database = open_database(url)
    assert schema_version(database) == CURRENT
    asset = Asset.get(Asset.name == "kept")
    PromptUsage.create(
        asset=asset, model="gemini-2.5-flash", input_tokens=300, output_tokens=50, cost_usd=0.0002
    )
    assert ledger.totals(asset_id=asset.id) == {
        "requests": 1,
        "input_tokens": 300,
        "output_tokens": 50,
        "thinking_tokens": 0,
        "cost_usd": 0.0002,
    }
    assert database.execute_sql("SELECT name FROM asset").fetchall() == [("kept",)]
    database.close()


def test_version_3_database_gets_the_gemini_batch_table(tmp_path):
    """The real v3 -> v4 migration: Gemini Batch API jobs."""
    from vidpipe.store.models import GeminiBatch

    url = current_database(tmp_path / "v3.db")
    raw = SqliteDatabase(str(tmp_path / "v3.db"))
    shaped_as_version_4(raw)
    raw.execute_sql('DROP TABLE "gemini_batch"')
    raw.execute_sql("UPDATE schema_info SET value = '3' WHERE key = 'schema_version'")
    raw.close()

    database = open_database(url)
    assert schema_version(database) == CURRENT
    manifest = Manifest.get(Manifest.name == "m")
    GeminiBatch.create(
        manifest=manifest,
        display_name="vidpipe-1",
        model="gemini-2.5-flash",
        prompt_version="v",
        items=[{"key": "k", "assets": [1], "tag": None}],
    )
    assert GeminiBatch.get().state == "SUBMITTING" and not GeminiBatch.get().finished
    database.close()


def test_version_4_database_gets_run_leases_and_its_running_run_is_recovered(tmp_path):
    """The real v4 -> v5 migration: a run left RUNNING by a dead process before leases existed
    is known by its pid only, and is still queued again."""
    from vidpipe.pipeline import runs
    from vidpipe.store.models import Run, RunStatus

    url = current_database(tmp_path / "v4.db")
    raw = SqliteDatabase(str(tmp_path / "v4.db"))
    shaped_as_version_4(raw)
    raw.execute_sql(
        "INSERT INTO run (kind, mode, args, status, priority, requested_by, "
        "cancel_requested, worker_pid, attempts, created_at, updated_at) VALUES "
        "('process', 'missing', '{}', 'running', 0, 'cli', 0, ?, 1, "
        "'2026-01-01', '2026-01-01')",
        (2**22 + 4321,),
    )
    raw.close()

    database = open_database(url)
    assert schema_version(database) == CURRENT
    run = Run.get()
    assert (run.lease_owner, run.lease_expires_at) == (None, None)
    assert runs.recover_abandoned() == [run.id]
    assert Run.get_by_id(run.id).status == RunStatus.QUEUED
    database.close()


def test_version_5_database_gets_characters(tmp_path):
    """The real v5 -> v6 migration: characters, their edits, and the image columns."""
    from vidpipe.pipeline.characters import list_characters
    from vidpipe.store.models import Character, CharacterEdit

    url = current_database(tmp_path / "v5.db")
    raw = SqliteDatabase(str(tmp_path / "v5.db"))
    shaped_as_version_5(raw)
    raw.close()

    database = open_database(url)
    assert schema_version(database) == CURRENT
    hero = Character.create(number=1, handle="PERSON_01")
    CharacterEdit.create(
        character=hero, field="handle", old_value="PERSON_01", new_value="HERO", author="user"
    )
    Asset.update(
        character=hero, character_role="front", sharpness=3.5, face_landmarks={"box": [0, 0, 1, 1]}
    ).where(Asset.name == "kept").execute()
    [view] = list_characters()
    assert [(i.file, i.role) for i in view.images] == [("m/a.png", "front")]
    assert Asset.get(Asset.name == "kept").face_landmarks == {"box": [0, 0, 1, 1]}
    database.close()


def test_version_7_database_keeps_its_tags_and_numbers_on_from_them(tmp_path):
    """The real v7 -> v8 migration: tags stop moving. The tags a project has are kept as they
    are, a new asset takes the number after the highest one held, and edits get change ids."""
    from vidpipe.pipeline.tags import assign_tags
    from vidpipe.store.edits import edit_field, history
    from vidpipe.store.models import AssetType, NumberCounter

    url = current_database(tmp_path / "v7.db")
    raw = SqliteDatabase(str(tmp_path / "v7.db"))
    shaped_as_version_7(raw)
    raw.execute_sql("UPDATE asset SET manifest_tag = 'CHAR_03', asset_type = 'CHARACTER'")
    raw.close()

    database = open_database(url)
    assert schema_version(database) == CURRENT
    manifest = Manifest.get(Manifest.name == "m")
    kept = Asset.get(Asset.name == "kept")
    assert kept.manifest_tag == "CHAR_03"
    newcomer = Asset.create(
        manifest=manifest,
        name="new",
        file_path="m/b.png",
        content_hash="b",
        asset_type=AssetType.CHARACTER,
    )
    assert assign_tags(manifest) == {newcomer.id: "CHAR_04"}
    assert NumberCounter.get().high == 4
    edit_field(kept.id, "asset_type", "object")
    assert {e.change for e in history(kept.id)} != {None}
    database.close()
