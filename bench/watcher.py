"""Watcher benchmark: N images copied into a watched project at once.

    .venv/bin/python bench/watcher.py [--files 500] [--keep]

Starts the real daemon (``python -m daemon.main``) on a fresh project in a temp folder, copies
the images in with ``shutil.copyfile`` one after another, as fast as it can, and reports:

* time from the start of the copy until every file has its asset row;
* ingest latency per file, from the moment the file became *stable* to its asset row. A file is
  stable when its writer has closed it: the benchmark takes the wall clock right after
  ``copyfile`` returns (the file's last write, its mtime, is a few microseconds earlier; the two
  are compared as a check). The row's moment is when this process first *sees* the committed
  row (a separate SQLite connection polls every 5 ms, so this may be up to ~5 ms late); the
  daemon's own ``created_at`` stamp, taken before its transaction commits, is shown too, as a
  lower bound. Both include the watcher's own wait for stability (``settle_s`` after the close),
  because a person waits for it too;
* job pickup latency (Run.created_at -> Run.started_at) for the watcher's job, and for ten
  reprocess jobs queued one at a time while the pipeline was idle.

Checks that every file was ingested exactly once (again at the end, after the pipeline ran).
Targets: median ingest latency < 1 s, pickup < 0.5 s.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timezone
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vidpipe.ops.daemon_state import daemon_status  # noqa: E402
from vidpipe.store.models import Asset, Run, RunStatus  # noqa: E402
from vidpipe.store.session import open_project  # noqa: E402


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


def epoch(naive_utc) -> float:
    return naive_utc.replace(tzinfo=timezone.utc).timestamp()


def make_images(folder: Path, count: int) -> list[Path]:
    rng = random.Random(0)
    folder.mkdir(parents=True)
    paths = []
    for index in range(count):
        image = Image.new("RGB", (256, 192), tuple(rng.randrange(256) for _ in range(3)))
        ImageDraw.Draw(image).rectangle(
            [rng.randrange(128), rng.randrange(96), 200, 150],
            fill=tuple(rng.randrange(256) for _ in range(3)),
        )
        path = folder / f"ref{index:04d}.jpg"
        image.save(path, quality=85)
        paths.append(path)
    return paths


class RowWatcher(threading.Thread):
    """Polls the project database from its own connection: when each asset row became visible."""

    def __init__(self, db_path: Path, interval: float = 0.005):
        super().__init__(name="row-watcher", daemon=True)
        self.db_path, self.interval = db_path, interval
        self.seen: dict[str, float] = {}  # file_path -> wall clock of first sight
        self.stop = threading.Event()

    def run(self) -> None:
        connection = sqlite3.connect(self.db_path, timeout=30)
        last_id = 0
        while not self.stop.wait(self.interval):
            rows = connection.execute(
                "SELECT id, file_path FROM asset WHERE id > ? AND source = 'uploaded'", (last_id,)
            ).fetchall()
            now = time.time()
            for row_id, file_path in rows:
                self.seen.setdefault(file_path, now)
                last_id = max(last_id, row_id)
        connection.close()


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="keep the temp project")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="vidpipe-bench-watcher-"))
    session = open_project(work / "project", create=True)
    root = session.project.root
    sources = make_images(work / "staging", args.files)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "daemon.main", str(root)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: daemon_status(root).pid == daemon.pid and daemon_status(root).watcher,
            60,
            "daemon start",
        )
        rows = RowWatcher(Path(session.database.database))
        rows.start()
        closed_at: dict[str, float] = {}
        copy_start = time.time()
        for source in sources:
            shutil.copyfile(source, root / source.name)
            closed_at[source.name] = time.time()  # written and closed: stable from here on
        copy_end = time.time()
        wait_for(lambda: len(rows.seen) >= args.files, 300, "all files ingested")
        rows.stop.set()
        rows.join()
        assets = list(Asset.select().where(Asset.source == "uploaded"))
        all_in = max(rows.seen.values())
        paths = [a.file_path for a in assets]
        exactly_once = len(paths) == len(set(paths)) == args.files
        visible = [rows.seen[a.file_path] - closed_at[a.file_path] for a in assets]
        stamped = [epoch(a.created_at) - closed_at[a.file_path] for a in assets]
        mtime_gaps = [closed_at[a.file_path] - (root / a.file_path).stat().st_mtime for a in assets]

        wait_for(
            lambda: Run.select().where(Run.started_at.is_null(False)).exists(),
            120,
            "the watcher's job to start",
        )
        watcher_runs = list(Run.select().where(Run.requested_by == "watcher"))
        watcher_pickup = [
            epoch(r.started_at) - epoch(r.created_at) for r in watcher_runs if r.started_at
        ]
        # Idle pickup: let the bulk run finish or cancel it, then queue reprocess jobs one by one.
        from daemon.client import cancel_run, enqueue_reprocess

        for run in watcher_runs:
            cancel_run(run.id)
        wait_for(
            lambda: (
                not Run.select()
                .where(Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]))
                .exists()
            ),
            300,
            "the pipeline to go idle",
        )
        idle_pickup = []
        for asset in assets[:10]:
            time.sleep(0.5)  # let the consumer's idle polling back off to its maximum
            run = enqueue_reprocess(root, asset.id, requested_by="bench")
            wait_for(lambda: Run.get_by_id(run.id).started_at is not None, 120, "pickup")
            done = Run.get_by_id(run.id)
            idle_pickup.append(epoch(done.started_at) - epoch(done.created_at))
            wait_for(
                lambda: Run.get_by_id(run.id).status not in (RunStatus.QUEUED, RunStatus.RUNNING),
                300,
                "reprocess to finish",
            )
        # Nothing ingested twice later on either (the pipeline ran, or was cancelled, meanwhile).
        final = [a.file_path for a in Asset.select().where(Asset.source == "uploaded")]
        exactly_once = exactly_once and sorted(final) == sorted(paths)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        session.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    def spread(values):
        return (
            f"median {statistics.median(values):.3f}s, p90 {pct(values, 0.9):.3f}s, "
            f"max {max(values):.3f}s"
        )

    print(f"files copied in at once:        {args.files} (copy took {copy_end - copy_start:.2f}s)")
    print(f"every file ingested once:       {'yes' if exactly_once else 'NO'}")
    print(f"time until all ingested:        {all_in - copy_start:.2f}s from the start of the copy")
    print(f"ingest latency, closed -> row visible to another process: {spread(visible)}")
    print(f"  same, closed -> daemon's created_at stamp (pre-commit): {spread(stamped)}")
    print(f"  (close minus mtime: {min(mtime_gaps) * 1000:.2f} to {max(mtime_gaps) * 1000:.2f} ms)")
    print(f"pickup, watcher job:            {', '.join(f'{v:.3f}s' for v in watcher_pickup)}")
    print(
        f"pickup, idle reprocess (n=10):  median {statistics.median(idle_pickup):.3f}s, "
        f"max {max(idle_pickup):.3f}s"
    )
    return 0 if exactly_once else 1


if __name__ == "__main__":
    sys.exit(main())
