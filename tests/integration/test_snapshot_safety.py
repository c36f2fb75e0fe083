"""No connection ever writes while it holds a read snapshot open.

In WAL mode a connection whose read is still open (a query being iterated, a cursor not
exhausted) is refused at once with "database is locked" as soon as it writes after another
connection committed; no busy timeout applies. The first test is the failure users hit
(`vidpipe process` online over two manifests); the others pin down the two defences: every read
is read to the end when it runs, and, under the tests, a write that meets an open read fails
loudly even when no other connection happened to commit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PIL import Image

from vidpipe.store.models import Manifest, Run, RunStatus
from vidpipe.store.sqlite_safety import StaleSnapshotWrite, guard_enabled
from support.fake_gemini import FakeGemini

VIDPIPE = Path(sys.executable).with_name("vidpipe")


def _write_images(root: Path) -> None:
    for manifest, colours in (
        ("cast", [(200, 30, 30), (30, 200, 30)]),
        ("street", [(30, 30, 200), (200, 200, 30)]),
    ):
        (root / manifest).mkdir(parents=True, exist_ok=True)
        for index, colour in enumerate(colours):
            Image.new("RGB", (160, 120), colour).save(root / manifest / f"{manifest}{index}.jpg")


def test_process_online_over_two_manifests_with_rate_limits_does_not_lock(tmp_path):
    """Issue 9: two manifests, a key, an endpoint answering with some 429s: `vidpipe process`
    died with "database is locked" when the first manifest's prompt stage finished."""
    root = tmp_path / "proj"
    subprocess.run([str(VIDPIPE), "init", str(root)], check=True, capture_output=True)
    _write_images(root)
    # One 429 per manifest at least (rules match the asset names in the prompt text).
    from support.fake_gemini import RATE_LIMIT, Rule

    with FakeGemini(
        latency_s=0.02,
        retry_after_s=0.05,
        rate_limit_fraction=0.3,
        seed=3,
        rules=[Rule("cast0", RATE_LIMIT, times=1), Rule("street1", RATE_LIMIT, times=1)],
    ) as server:
        env = dict(
            os.environ,
            GEMINI_API_KEY="test-key",
            VIDPIPE_GEMINI_BASE_URL=server.base_url,
            PYTHONPATH=os.pathsep.join(
                filter(None, [str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH")])
            ),
        )
        result = subprocess.run(
            [str(VIDPIPE), "process", str(root)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        outcomes = server.stats()["outcomes"]
    output = result.stdout + result.stderr
    assert "database is locked" not in output, output
    assert result.returncode == 0, output
    assert outcomes.get("rate_limit", 0) >= 2 and outcomes.get("ok", 0) == 4, outcomes

    from vidpipe.store.session import open_project

    with open_project(root):
        runs = list(Run.select().order_by(Run.id))
        assert [r.status for r in runs] == [RunStatus.DONE, RunStatus.DONE]
        for manifest in Manifest.select():
            assets = list(manifest.assets)
            assert len(assets) == 2
            assert all(a.prompt_origin == "gemini" and a.reverse_prompt for a in assets)


# -- the defences, one by one ------------------------------------------------------------------


def _commit_from_another_connection(database) -> None:
    """Another thread is another peewee connection: commit a write there."""

    def write():
        Manifest.create(name="other", folder="other")
        database.close()

    thread = threading.Thread(target=write)
    thread.start()
    thread.join()


def test_a_write_inside_a_loop_over_a_query_succeeds_after_another_commit(session):
    for name in ("a", "b", "c"):
        Manifest.create(name=name, folder=name)
    seen = []
    for manifest in Manifest.select().order_by(Manifest.name):  # still iterating: 2 rows left
        if not seen:
            _commit_from_another_connection(session.database)
        Run.create(kind="process", manifest=manifest.id)  # the write the engine makes per manifest
        seen.append(manifest.name)
    assert seen == ["a", "b", "c"]
    assert Run.select().count() == 3


def test_the_guard_is_on_under_the_tests():
    assert guard_enabled()
    assert os.environ.get("VIDPIPE_SNAPSHOT_GUARD") == "1"  # and in every process they start


def test_a_write_meeting_an_open_read_fails_loudly_even_without_a_concurrent_commit(session):
    """An open read that slipped past the first defence (a plain sqlite3 cursor made on the
    connection directly): the guard names the read that is open, and it is no ordinary Exception
    a stage could swallow."""
    for name in ("a", "b", "c"):
        Manifest.create(name=name, folder=name)
    import sqlite3

    raw = sqlite3.Cursor(session.database.connection())
    raw.execute("SELECT name FROM manifest")
    raw.fetchone()
    with pytest.raises(StaleSnapshotWrite, match="SELECT name FROM manifest") as caught:
        try:
            Run.create(kind="process")
        except Exception:
            pytest.fail("the guard's error was catchable as an Exception")
    assert not isinstance(caught.value, Exception)
    raw.close()
    Run.create(kind="process")  # the read is closed: the write goes through


def test_a_deferred_transaction_that_reads_then_writes_fails_loudly(session):
    Manifest.create(name="a", folder="a")
    with pytest.raises(StaleSnapshotWrite):
        with session.database.atomic(lock_type="DEFERRED"):
            Manifest.select().count()
            Manifest.create(name="b", folder="b")
    with session.database.atomic():  # IMMEDIATE, the default: takes the write lock first
        Manifest.select().count()
        Manifest.create(name="b", folder="b")
