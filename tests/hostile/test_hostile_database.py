"""Only databases vidpipe made, and only the one it opened: triggers, views and tables planted in
a copied ``vidpipe.db`` are refused at open and listed (and removed on request) by
``vidpipe doctor``; a hard-linked ``vidpipe.db`` (``cp -al`` of a project) is refused with a way
forward; and a second, unprivileged user who swaps ``vidpipe.db`` in a group-writable folder
while vidpipe runs never gets vidpipe to read or write the other file. Real files, the real
CLI, a real second user (``runuser -u nobody``)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
ATTACKER_TEXT = "the attacker wrote this"

CLI = "import sys; from vidpipe.cli import main; sys.exit(main())"


def vidpipe(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def make_project(root: Path, colour=(30, 140, 60), name: str = "hero.png") -> Path:
    assert vidpipe("init", str(root)).returncode == 0
    Image.new("RGB", (64, 48), colour).save(root / name)
    scanned = vidpipe("scan", str(root))
    assert scanned.returncode == 0, scanned.stderr
    return root


def database(root: Path) -> Path:
    return root / ".vidpipe" / "vidpipe.db"


def plant(path: Path) -> None:
    """What a hostile copy of a project can carry inside its database."""
    with sqlite3.connect(path) as connection:
        connection.executescript(f"""
            CREATE TRIGGER rewrite AFTER UPDATE ON asset BEGIN
                UPDATE asset SET reverse_prompt = '{ATTACKER_TEXT}' WHERE id = NEW.id; END;
            CREATE TABLE seed (blob);
            CREATE TRIGGER grow AFTER INSERT ON asset BEGIN
                INSERT INTO seed VALUES (zeroblob(50000000)); END;
            CREATE VIEW everything AS SELECT * FROM asset;
        """)


def test_planted_triggers_views_and_tables_are_refused_then_dropped_by_doctor(tmp_path):
    root = make_project(tmp_path / "project")
    plant(database(root))
    size = database(root).stat().st_size

    edited = vidpipe("edit", str(root), "hero.png", "reverse_prompt", "my own words")
    Image.new("RGB", (64, 48), (1, 2, 3)).save(root / "second.png")
    scanned = vidpipe("scan", str(root))

    for result in (edited, scanned):
        assert result.returncode != 0 and "Traceback" not in result.stderr
        text = result.stdout + result.stderr
        assert "trigger rewrite" in text and "trigger grow" in text and "view everything" in text
        assert "table seed" in text and "--drop-foreign" in text
    with sqlite3.connect(database(root)) as connection:
        assert connection.execute("SELECT COUNT(*) FROM seed").fetchone() == (0,)
        assert connection.execute("SELECT reverse_prompt FROM asset").fetchone() == ("",)
    assert database(root).stat().st_size == size

    doctor = vidpipe("doctor", str(root))
    assert doctor.returncode == 1
    assert "FAIL] database" in doctor.stdout and "trigger rewrite" in doctor.stdout

    dropped = vidpipe("doctor", str(root), "--drop-foreign")
    for line in (
        "dropped trigger grow",
        "dropped trigger rewrite",
        "dropped view everything",
        "dropped table seed",
    ):
        assert line in dropped.stdout

    assert vidpipe("edit", str(root), "hero.png", "reverse_prompt", "my own words").returncode == 0
    exported = vidpipe("export", str(root), "-o", str(tmp_path / "export.json"))
    assert exported.returncode == 0, exported.stderr
    text = (tmp_path / "export.json").read_text()
    assert "my own words" in text and ATTACKER_TEXT not in text


def test_a_hard_linked_database_is_refused_with_a_way_forward(tmp_path):
    first = make_project(tmp_path / "first")
    second = tmp_path / "second"
    subprocess.run(["cp", "-al", str(first), str(second)], check=True)
    (second / "hero.png").unlink()  # the copy drops a file: its scan must not touch first's

    refused = vidpipe("scan", str(second))

    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    message = refused.stdout + refused.stderr
    assert "2 hard links" in message and "cp -p" in message
    # The way forward the message gives, as a person would run it (no vidpipe running).
    command = message[message.index("cp -p") :].splitlines()[0]
    subprocess.run(command, shell=True, check=True)
    assert database(second).stat().st_nlink == 1
    assert vidpipe("scan", str(second)).returncode == 0
    assert vidpipe("scan", str(first)).returncode == 0
    with sqlite3.connect(database(first)) as connection:
        assert connection.execute(
            "SELECT state FROM asset WHERE file_path = 'hero.png'"
        ).fetchone() == ("pending",)
    with sqlite3.connect(database(second)) as connection:
        assert connection.execute(
            "SELECT state FROM asset WHERE file_path = 'hero.png'"
        ).fetchone() == ("removed",)


# -- a second user swaps the database under a running process -------------------------------------
HOLDER = r"""
import sys, threading
from vidpipe.store.session import open_project
from vidpipe.store.models import Asset
session = open_project(sys.argv[1])
print("names", sorted(a.name for a in Asset.select()), flush=True)
sys.stdin.readline()  # the swap happens now
result = []
def later():
    try:
        names = sorted(a.name for a in Asset.select())
        Asset.update(description="written by the holder").execute()
        result.append(f"read {names}")
    except Exception as exc:
        result.append(f"refused {type(exc).__name__}: {exc}")
thread = threading.Thread(target=later)
thread.start(); thread.join()
print(result[0], flush=True)
"""


@pytest.fixture
def shared_folder():
    """A folder the unprivileged user can reach (pytest's tmp_path is private to root)."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to act as a second, unprivileged user")
    folder = Path(tempfile.mkdtemp(prefix="vidpipe-shared-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_nobody(command: str) -> None:
    subprocess.run(["runuser", "-u", "nobody", "--", "sh", "-c", command], check=True, timeout=30)


def group_writable(root: Path) -> None:
    """The project folder shared with a group the second user is in."""
    for folder in (root, root / ".vidpipe"):
        shutil.chown(folder, group="nogroup")
        folder.chmod(0o2775)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("swap", ["symlink", "copy", "remove"])
def test_a_database_swapped_by_another_user_is_never_used(shared_folder, swap):
    mine = make_project(shared_folder / "mine")
    other = make_project(shared_folder / "other", colour=(200, 10, 10), name="other-secret.png")
    for path in (other, other / ".vidpipe", database(other)):
        path.chmod(0o755 if path.is_dir() else 0o644)
    group_writable(mine)
    before = digest(database(other))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(mine)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().startswith("names ['hero']")
        db = database(mine)
        as_nobody(
            {
                "symlink": f"mv {db} {db}.kept && ln -s {database(other)} {db}",
                "copy": f"mv {db} {db}.kept && cp {database(other)} {db}",
                "remove": f"mv {db} {db}.kept",
            }[swap]
        )
        out, err = holder.communicate("go\n", timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert out.startswith("refused ProjectError"), out + err
    assert "other-secret" not in out
    assert "replaced" in out or "removed" in out
    assert digest(database(other)) == before
    assert swap != "remove" or not database(mine).exists()  # no fresh file made in its place


def test_a_queue_file_with_a_planted_trigger_is_set_aside_by_the_daemon(tmp_path):
    from support.daemons import start_daemon, stop_daemon

    root = make_project(tmp_path / "project")
    queue = root / ".vidpipe" / "queue.db"
    with sqlite3.connect(queue) as connection:
        connection.executescript("""
            CREATE TABLE task (id integer primary key, queue text, data blob, priority real);
            CREATE TABLE seed (blob);
            CREATE TRIGGER grow AFTER INSERT ON task BEGIN
                INSERT INTO seed VALUES (zeroblob(50000000)); END;
        """)
    daemon = start_daemon(root, "--no-watch")
    stop_daemon(daemon)
    log = (root / ".vidpipe" / "logs" / "daemon.log").read_text()
    assert "trigger grow" in log and "set aside" in log
    assert "Traceback" not in log
    with sqlite3.connect(queue) as connection:  # the rebuilt queue is Huey's own
        assert (
            connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
            == []
        )
