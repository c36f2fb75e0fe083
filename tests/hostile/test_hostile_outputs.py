"""Outputs and races that could destroy data, and damaged state that must give one clear line:
`export -o` onto vidpipe's own files, two `vidpipe add` of different files with one name at
once, `daemon stop` on a pid that is not this project's daemon, a damaged / read-only database
and a lock path that is a folder, from the CLI, the daemon and the TUI."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

from vidpipe.store.session import open_project
from vidpipe.store.sqlite_safety import GUARD_VARIABLE

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VIDPIPE = str(BIN / "vidpipe")


#: Run a command without the capabilities that let root write a read-only file.
NO_OVERRIDE = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    if os.geteuid() == 0
    else []
)


def run(*args: str, timeout: int = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


LEAVE_ALTERNATE_SCREEN = "\x1b[?1049l"
CONTROL_SEQUENCE = re.compile(r"\x1b\[[0-9;?<>=]*[A-Za-z]")


def left_on_the_terminal(stderr: str) -> str:
    """What a person still sees once the program ended: the TUI paints its first screen before
    it opens the database, on the alternate screen, which it leaves before saying why it could
    not go on; only what follows stays on the terminal."""
    if LEAVE_ALTERNATE_SCREEN in stderr:
        stderr = stderr.rsplit(LEAVE_ALTERNATE_SCREEN, 1)[1]
    return CONTROL_SEQUENCE.sub("", stderr)


def one_clear_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = left_on_the_terminal(result.stderr).strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_export_refuses_vidpipe_files_and_input_images(session, tmp_path):
    root = session.project.root
    image = root / "hero.jpg"
    Image.new("RGB", (60, 40), (5, 50, 200)).save(image)
    assert run(VIDPIPE, "scan", str(root)).returncode == 0
    from daemon.client import enqueue_process
    from daemon.tasks import forget_task_sets
    from vidpipe.store.models import Manifest

    enqueue_process(root, Manifest.get().id)  # the queue file exists
    forget_task_sets()
    renamed = root / "hero-notes.dat"  # an image whatever its name
    shutil.copy(image, renamed)
    protected = [
        session.project.database_path,
        session.project.queue_path,
        image,
        root / ".vidpipe" / "notes.json",
        root / ".vidpipe" / "crops" / "x.json",
        renamed,
    ]
    # The database changes legitimately (WAL checkpoints): it is checked by its contents.
    before = {path: digest(path) for path in protected[1:] if path.exists()}
    for target in protected:
        out = run(VIDPIPE, "export", str(root), "-o", str(target))
        one_clear_line(out, "refusing to write the export")
    # The database wherever it lives, found through a symlink or another project's database.
    link = tmp_path / "innocent.json"
    os.symlink(session.project.database_path, link)
    one_clear_line(run(VIDPIPE, "export", str(root), "-o", str(link)), "refusing")
    other = open_project(tmp_path / "other", create=True)
    other.close()
    session.database.connect(reuse_if_open=True)
    one_clear_line(
        run(VIDPIPE, "export", str(root), "-o", str(other.project.database_path)), "SQLite database"
    )
    assert {path: digest(path) for path in before} == before
    from vidpipe.store.database import inspect_sqlite

    assert inspect_sqlite(session.project.database_path).problem is None
    with sqlite3.connect(session.project.database_path) as raw:
        assert raw.execute("select count(*) from asset").fetchone() == (1,)
    assert not (root / ".vidpipe" / "notes.json").exists()
    os.mkfifo(tmp_path / "pipe.json")
    one_clear_line(
        run(VIDPIPE, "export", str(root), "-o", str(tmp_path / "pipe.json")), "not a regular file"
    )
    fine = run(VIDPIPE, "export", str(root), "-o", str(tmp_path / "manifest.json"))
    assert fine.returncode == 0 and json.loads((tmp_path / "manifest.json").read_text())


ADD_AT_ONCE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from vidpipe.cli import main
    go = Path(sys.argv[1])
    while not go.exists():
        time.sleep(0.001)
    sys.exit(main(["add", sys.argv[2], sys.argv[3]]))
""")


def test_concurrent_adds_of_different_files_with_one_name_keep_both(session, tmp_path):
    root = session.project.root
    session.close()
    rounds = 3
    for round_number in range(rounds):
        sources = []
        for index, color in enumerate([(250, 0, 0), (0, 0, 250)]):
            path = tmp_path / f"src{round_number}-{index}" / f"shot{round_number}.png"
            path.parent.mkdir()
            # Large enough that the two copies overlap in time.
            Image.effect_noise((1600, 1200), 40 + index).convert("RGB").save(path)
            sources.append(path)
        go = tmp_path / f"go{round_number}"
        adders = [
            subprocess.Popen(
                [sys.executable, "-c", ADD_AT_ONCE, str(go), str(root), str(source)],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for source in sources
        ]
        time.sleep(0.0)  # both started; released together below
        go.touch()
        results = [adder.communicate(timeout=300) for adder in adders]
        for adder, (out, err) in zip(adders, results):
            assert adder.returncode == 0, out + err
        copies = sorted(p for p in root.iterdir() if p.name.startswith(f"shot{round_number}"))
        assert [p.name for p in copies] == [f"shot{round_number}-2.png", f"shot{round_number}.png"]
        assert sorted(digest(p) for p in copies) == sorted(digest(s) for s in sources)
    assert not [p for p in root.iterdir() if p.name.startswith(".vidpipe-")]  # no temp left


HOLD_LOCK = textwrap.dedent("""
    import fcntl, json, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, json.dumps({"pid": int(sys.argv[2]) or os.getpid()}).encode())
    print("held", flush=True)
    time.sleep(300)
""")


def test_daemon_stop_only_signals_this_projects_daemon(session):
    root = session.project.root
    lock = session.project.state_dir / "daemon.lock"
    decoys = []
    try:
        # 1. The lock is held by a process that is not vidpipe-daemon.
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(lock), "0"], stdout=subprocess.PIPE, text=True
        )
        decoys.append(holder)
        assert holder.stdout.readline().strip() == "held"
        out = run(VIDPIPE, "daemon", "stop", str(root), "--timeout", "1")
        assert out.returncode == 1 and "is not vidpipe-daemon" in out.stderr, out.stderr
        assert holder.poll() is None
        holder.kill()
        holder.wait()
        # 2. The lock names a process whose command line claims to be this project's daemon,
        #    but another process holds the lock.
        pretender = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(300)", "daemon.main", str(root)]
        )
        decoys.append(pretender)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(lock), str(pretender.pid)],
            stdout=subprocess.PIPE,
            text=True,
        )
        decoys.append(holder)
        assert holder.stdout.readline().strip() == "held"
        out = run(VIDPIPE, "daemon", "stop", str(root), "--timeout", "1", "--kill")
        assert out.returncode == 1 and "does not hold this project's daemon lock" in out.stderr
        assert pretender.poll() is None and holder.poll() is None
        # 3. A daemon of another folder.
        holder.kill()
        holder.wait()
        other = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(300)", "daemon.main", "/elsewhere"]
        )
        decoys.append(other)
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(lock), str(other.pid)],
            stdout=subprocess.PIPE,
            text=True,
        )
        decoys.append(holder)
        assert holder.stdout.readline().strip() == "held"
        out = run(VIDPIPE, "daemon", "stop", str(root), "--timeout", "1")
        assert out.returncode == 1 and "another folder" in out.stderr
        assert other.poll() is None
    finally:
        for process in decoys:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()


def _damage(path: Path) -> None:
    """Overwrite the middle of a real SQLite file: pages, not the header."""
    data = bytearray(path.read_bytes())
    data[4096 : len(data)] = os.urandom(len(data) - 4096)
    path.write_bytes(bytes(data))


def _entry_points(root: Path, writing: bool = False) -> dict[str, list[str]]:
    """Commands that open the project; with ``writing``, only those that must write at once
    (a read-only database still reads: status, export and the TUI work on it)."""
    commands = {
        "cli": [VIDPIPE, "scan" if writing else "status", str(root)],
        "daemon": [sys.executable, "-m", "daemon.main", str(root), "--no-watch"],
    }
    if not writing:
        commands["export"] = [VIDPIPE, "export", str(root)]
        commands["tui"] = [str(BIN / "vidpipe-tui"), str(root), "--no-watch"]
    return commands


@pytest.mark.parametrize("damage", ["not-a-database", "damaged-pages"])
def test_damaged_database_is_one_clear_line_everywhere(session, damage):
    root = session.project.root
    Image.new("RGB", (30, 30)).save(root / "a.jpg")
    assert run(VIDPIPE, "scan", str(root)).returncode == 0
    session.close()
    database = session.project.database_path
    with open_project(root):  # checkpoint the WAL into the file, then close
        pass
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    if damage == "not-a-database":
        database.write_bytes(b"this is not a database\n" * 100)
    else:
        _damage(database)
    for name, command in _entry_points(root).items():
        out = run(*command)
        one_clear_line(out, "database")
    doctor = run(VIDPIPE, "doctor", str(root))
    assert "[FAIL] database:" in doctor.stdout and doctor.returncode == 1


def test_read_only_database_and_lock_folder_are_one_clear_line(session):
    root = session.project.root
    Image.new("RGB", (30, 30)).save(root / "new.jpg")  # scan must write it
    session.close()
    database = session.project.database_path
    database.chmod(0o444)
    try:
        # Root writes anything; without the override capabilities it obeys file permissions.
        # The tests' snapshot guard (vidpipe.store.sqlite_safety) is off here: on a read-only file
        # BEGIN IMMEDIATE cannot take the write lock, so the guard would fire before SQLite
        # says "readonly", which is what a person sees.
        env = {k: v for k, v in os.environ.items() if k != GUARD_VARIABLE}
        for name, command in _entry_points(root, writing=True).items():
            out = run(*NO_OVERRIDE, *command, env=env)
            one_clear_line(out, "read-only")
        doctor = run(*NO_OVERRIDE, VIDPIPE, "doctor", str(root))
        assert "[FAIL] database:" in doctor.stdout and "read-only" in doctor.stdout
    finally:
        database.chmod(0o644)
    healthy = run(VIDPIPE, "doctor", str(root))
    assert "[ok  ] database:" in healthy.stdout and "intact, schema version" in healthy.stdout

    lock = session.project.state_dir / "daemon.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    out = run(sys.executable, "-m", "daemon.main", str(root), "--no-watch")
    one_clear_line(out, "daemon lock file", "folder")
    status = run(VIDPIPE, "daemon", "status", str(root))
    assert status.returncode == 1 and "not running" in status.stdout
