"""The project database on a real PostgreSQL server (a throwaway cluster, see conftest)."""

from __future__ import annotations

import json
import shutil
import threading

import pytest
from peewee import PostgresqlDatabase

from vidpipe.store import database as database_module
from vidpipe.cli import main
from vidpipe.store.database import open_database, schema_version
from vidpipe.store.models import (
    Asset,
    FieldEdit,
    KeyValue,
    Manifest,
    PromptCache,
    SchemaInfo,
    utcnow,
)


@pytest.fixture
def on_postgres(postgres_url, monkeypatch):
    """Every entry point of this test reads database_url from the person's environment."""
    monkeypatch.setenv("VIDPIPE_DATABASE_URL", postgres_url)
    return postgres_url


def test_new_database_gets_the_current_schema(postgres_url):
    database = open_database(postgres_url)
    assert isinstance(database, PostgresqlDatabase)
    assert schema_version(database) == database_module.SCHEMA_VERSION
    assert {"asset", "manifest", "run", "stage_progress", "field_edit"} <= set(
        database.get_tables()
    )
    database.close()
    # Opening again neither fails nor writes the version a second time.
    database = open_database(postgres_url)
    assert SchemaInfo.select().count() == 1
    database.close()


def test_migrations_run_on_postgres(postgres_url):
    """A database at schema version 1 (before the path index, usage and batch tables and run
    leases) is brought to the current version by the same migrations SQLite runs."""
    from vidpipe.store.models import GeminiBatch, PromptUsage

    database = open_database(postgres_url)
    manifest = Manifest.create(name="m", folder="m")
    Asset.create(manifest=manifest, name="kept", file_path="m/a.png", content_hash="h")
    database.drop_tables([GeminiBatch, PromptUsage])
    database.execute_sql('DROP INDEX "asset_file_path"')
    database.execute_sql(
        'ALTER TABLE "run" DROP COLUMN "lease_owner", DROP COLUMN "lease_expires_at"'
    )
    # What versions 6 (characters), 7 (who reviewed, who edited) and 8 (stable tag numbering)
    # added: a version-1 database has none of it.
    database.execute_sql(
        'ALTER TABLE "asset" DROP COLUMN "character_id", '
        'DROP COLUMN "character_role", DROP COLUMN "face_landmarks", '
        'DROP COLUMN "sharpness", DROP COLUMN "reviewed_by", '
        'DROP COLUMN "reviewed_at"'
    )
    database.execute_sql('DROP TABLE "character_edit", "character", "number_counter"')
    database.execute_sql('ALTER TABLE "field_edit" DROP COLUMN "person", DROP COLUMN "change"')
    SchemaInfo.update(value="1").execute()
    database.close()

    database = open_database(postgres_url)
    assert schema_version(database) == database_module.SCHEMA_VERSION
    assert {"prompt_usage", "gemini_batch"} <= set(database.get_tables())
    assert "asset_file_path" in {index.name for index in database.get_indexes("asset")}
    assert {"lease_owner", "lease_expires_at"} <= {c.name for c in database.get_columns("run")}
    assert [a.name for a in Asset.select()] == ["kept"]
    assert {"character", "character_edit", "number_counter"} <= set(database.get_tables())
    assert {"person", "change"} <= {c.name for c in database.get_columns("field_edit")}
    database.close()


def test_upserts_long_paths_and_json_on_postgres(postgres_url):
    database = open_database(postgres_url)
    manifest = Manifest.create(name="m", folder="m")
    # PostgreSQL enforces VARCHAR lengths; a deep path is longer than peewee's default 255.
    deep = "m/" + "/".join(["folder-with-a-long-name"] * 20) + "/image.png"
    asset = Asset.create(
        manifest=manifest,
        name="x" * 300,
        file_path=deep,
        content_hash="h",
        crop_bbox=[1, 2, 3, 4],
        stage_errors={"faces": "é ünïcode"},
    )
    again = Asset.get_by_id(asset.id)
    assert again.file_path == deep and again.crop_bbox == [1, 2, 3, 4]
    assert again.stage_errors == {"faces": "é ünïcode"}
    for value in ({"a": 1}, {"a": 2}):
        (
            KeyValue.insert(key="k", value=value, updated_at=utcnow())
            .on_conflict(conflict_target=[KeyValue.key], update={KeyValue.value: value})
            .execute()
        )
    assert KeyValue.get_by_id("k").value == {"a": 2}
    for prompt in ("a", "b"):
        (
            PromptCache.insert(key="key-1", response={"reverse_prompt": prompt})
            .on_conflict(
                conflict_target=[PromptCache.key],
                update={PromptCache.response: {"reverse_prompt": prompt}},
            )
            .execute()
        )
    assert PromptCache.get_by_id("key-1").response == {"reverse_prompt": "b"}
    database.close()


def test_init_with_database_url_creates_no_sqlite_file(
    tmp_path, on_postgres, monkeypatch, redis_url
):
    monkeypatch.setenv("VIDPIPE_QUEUE_URL", redis_url)
    project = tmp_path / "proj"
    assert main(["init", str(project)]) == 0
    database = open_database(on_postgres)
    assert schema_version(database) == database_module.SCHEMA_VERSION
    database.close()
    assert main(["status", str(project)]) == 0
    state = project / ".vidpipe"
    assert not [p.name for p in state.rglob("*.db*")], "no SQLite file with both URLs set"


@pytest.mark.slow
def test_process_offline_on_postgres_from_two_mounts(tmp_path, on_postgres, make_image, capsys):
    """The pipeline through the CLI on PostgreSQL; the same project folder then seen at another
    path (a second machine's mount) finds every asset, crop and contact sheet where it is."""
    first = tmp_path / "box-a" / "proj"
    assert main(["init", str(first)]) == 0
    make_image("red.jpg", folder=first)
    make_image("green.jpg", color=(30, 200, 30), folder=first / "characters")
    make_image("blue.png", color=(30, 30, 200), folder=first / "characters")
    assert main(["process", str(first)]) == 0
    assert main(["export", str(first), "-o", str(tmp_path / "a.json")]) == 0
    exported = json.loads((tmp_path / "a.json").read_text())
    by_name = {m["name"]: m for m in exported["manifests"]}
    assert set(by_name) == {"proj", "characters"}
    tags = sorted(a["tag"] for a in by_name["characters"]["assets"])
    assert tags == ["CHAR_01", "CHAR_02"]
    assert all(a["reverse_prompt"] for m in by_name.values() for a in m["assets"])
    assert not list((first / ".vidpipe").glob("*.db"))

    second = tmp_path / "box-b" / "mnt" / "proj"  # the same folder, mounted elsewhere
    shutil.copytree(first, second)
    capsys.readouterr()
    assert main(["process", str(second)]) == 0
    assert "new: " not in capsys.readouterr().out, "nothing looks new from the other mount"
    database = open_database(on_postgres)
    stored = [a.file_path for a in Asset.select()]
    assert stored and not any(path.startswith("/") for path in stored)
    for path in stored:
        assert (second / path).is_file() and (first / path).is_file()
    for manifest in Manifest.select():
        for sheet in manifest.contact_sheets:
            assert not sheet.startswith("/") and (second / sheet).is_file()
    assert Asset.select().count() == 3
    database.close()


def test_two_people_edit_one_asset_on_postgres(postgres_url):
    """Two people (two threads, each on its own connection) edit the same field at the same
    time, many times: every edit lands in the history as a chain (each edit's old value is the
    previous edit's new value), and the current value is the last edit's."""
    from vidpipe.store.edits import edit_field

    database = open_database(postgres_url)
    manifest = Manifest.create(name="m", folder="m")
    asset = Asset.create(manifest=manifest, name="a", file_path="m/a.png", content_hash="h")
    start = threading.Barrier(2)
    failures = []

    def person(name: str) -> None:
        try:
            start.wait()
            for n in range(25):
                edit_field(asset.id, "description", f"{name} {n}")
        except Exception as exc:
            failures.append(exc)
        finally:
            database.close()

    people = [threading.Thread(target=person, args=(name,)) for name in ("Ann", "Bob")]
    for thread in people:
        thread.start()
    for thread in people:
        thread.join()
    assert failures == []
    history = list(FieldEdit.select().where(FieldEdit.asset == asset.id).order_by(FieldEdit.id))
    assert len(history) == 50
    assert {e.new_value for e in history} == {
        f"{who} {n}" for who in ("Ann", "Bob") for n in range(25)
    }
    for before, after in zip(history, history[1:]):
        assert after.old_value == before.new_value, "an edit was made on a stale value"
    assert Asset.get_by_id(asset.id).description == history[-1].new_value
    database.close()


def test_doctor_checks_both_servers(tmp_path, postgres_url, redis_url, monkeypatch, capsys):
    from vidpipe.ops.server_checks import check_database_server, check_queue_server
    from vidpipe.config.settings import load_settings
    from support.servers import free_port

    monkeypatch.setenv("VIDPIPE_DATABASE_URL", postgres_url)
    monkeypatch.setenv("VIDPIPE_QUEUE_URL", redis_url)
    settings = load_settings(None)
    database, queue = check_database_server(settings, None), check_queue_server(settings, None)
    assert (
        database.level == "ok" and "PostgreSQL 1" in database.detail and "empty" in database.detail
    )
    assert queue.level == "ok" and queue.detail.startswith("Redis ")
    assert main(["init", str(tmp_path / "proj")]) == 0
    assert "schema present" in check_database_server(load_settings(None), None).detail

    nobody = free_port()  # nothing listens there
    monkeypatch.setenv("VIDPIPE_DATABASE_URL", f"postgresql://me:secret@127.0.0.1:{nobody}/x")
    monkeypatch.setenv("VIDPIPE_QUEUE_URL", f"redis://127.0.0.1:{nobody}/0")
    capsys.readouterr()
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"[FAIL] database: postgresql://me:***@127.0.0.1:{nobody}/x" in out
    assert f"[FAIL] queue: redis://127.0.0.1:{nobody}/0" in out
    assert "secret" not in out


def test_front_end_hears_other_machines_commits(postgres_url):
    """The TUI's watcher on PostgreSQL: a commit by another connection that touches progress or
    assets is heard (LISTEN/NOTIFY), once; a daemon heartbeat (key_value) wakes nobody."""
    import time

    from tui.dbwatch import DataVersionWatcher

    database = open_database(postgres_url)
    watcher = DataVersionWatcher(database)
    other = database_module.make_database(postgres_url)
    other.connect()

    def heard(deadline_s: float = 30.0) -> bool:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if watcher.changed():
                return True
            time.sleep(0.02)
        return False

    try:
        assert not watcher.changed()
        other.execute_sql(
            "INSERT INTO manifest (name, folder, contact_sheets, created_at, "
            "updated_at) VALUES ('m', 'm', '[]', now(), now())"
        )
        assert heard()
        assert not watcher.changed(), "one commit is heard once"
        # What is sent: one notification per table a commit touched; the heartbeat table
        # (key_value) sends none.
        import psycopg2

        listener = psycopg2.connect(dbname=other.database, **other.connect_params)
        listener.autocommit = True
        listener.cursor().execute(f"LISTEN {database_module.CHANGES_CHANNEL}")
        other.execute_sql(
            "INSERT INTO key_value (key, value, updated_at) VALUES ('daemon:x', '{}', now())"
        )
        with other.atomic():
            other.execute_sql("UPDATE manifest SET updated_at = now()")
            other.execute_sql("UPDATE manifest SET folder = 'n'")
        deadline = time.monotonic() + 30
        while not listener.notifies and time.monotonic() < deadline:
            time.sleep(0.02)
            listener.poll()
        assert [n.payload for n in listener.notifies] == ["manifest"]
        listener.close()
        assert heard()
    finally:
        watcher.close()
        other.close()
        database.close()
