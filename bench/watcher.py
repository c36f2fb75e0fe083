"""Watcher benchmark: N images copied into a watched project at once.

    .venv/bin/python bench/watcher.py [--files 500] [--keep]

Starts the real daemon (``python -m daemon.main``) on a fresh project in a temp folder, copies
the images in (plain copies: each file gets a fresh mtime, which is when it became stable), and
reports from the database:

* time from the start of the copy until every file has its asset row;
* ingest latency per file: asset row created_at minus the file's mtime (its last write);
* job pickup latency (Run.created_at -> Run.started_at) for the watcher's job, and for ten
  reprocess jobs queued one at a time while the pipeline was idle.

Checks that every file was ingested exactly once. Targets: median ingest latency < 1 s,
pickup < 0.5 s.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timezone
from pathlib import Path

from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vidpipe.daemon_state import daemon_status  # noqa: E402
from vidpipe.models import Asset, Run, RunStatus  # noqa: E402
from vidpipe.session import open_project  # noqa: E402


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
        ImageDraw.Draw(image).rectangle([rng.randrange(128), rng.randrange(96), 200, 150],
                                        fill=tuple(rng.randrange(256) for _ in range(3)))
        path = folder / f"ref{index:04d}.jpg"
        image.save(path, quality=85)
        paths.append(path)
    return paths


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
    daemon = subprocess.Popen([sys.executable, "-m", "daemon.main", str(root)], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: daemon_status(root).pid == daemon.pid and daemon_status(root).watcher,
                 60, "daemon start")
        copy_start = time.time()
        for source in sources:
            shutil.copyfile(source, root / source.name)  # fresh mtime = when it became stable
        copy_end = time.time()
        wait_for(lambda: Asset.select().where(Asset.source == "uploaded").count() >= args.files,
                 300, "all files ingested")
        assets = list(Asset.select().where(Asset.source == "uploaded"))
        all_in = max(epoch(a.created_at) for a in assets)
        paths = [a.file_path for a in assets]
        exactly_once = len(paths) == len(set(paths)) == args.files
        latencies = [epoch(a.created_at) - (root / a.file_path).stat().st_mtime for a in assets]

        wait_for(lambda: Run.select().where(Run.started_at.is_null(False)).exists(), 120,
                 "the watcher's job to start")
        watcher_runs = list(Run.select().where(Run.requested_by == "watcher"))
        watcher_pickup = [epoch(r.started_at) - epoch(r.created_at) for r in watcher_runs
                          if r.started_at]
        # Idle pickup: let the bulk run finish or cancel it, then queue reprocess jobs one by one.
        from daemon.client import cancel_run, enqueue_reprocess

        for run in watcher_runs:
            cancel_run(run.id)
        wait_for(lambda: not Run.select().where(Run.status.in_(
            [RunStatus.QUEUED, RunStatus.RUNNING])).exists(), 300, "the pipeline to go idle")
        idle_pickup = []
        for asset in assets[:10]:
            time.sleep(0.5)  # let the consumer's idle polling back off to its maximum
            run = enqueue_reprocess(root, asset.id, requested_by="bench")
            wait_for(lambda: Run.get_by_id(run.id).started_at is not None, 120, "pickup")
            done = Run.get_by_id(run.id)
            idle_pickup.append(epoch(done.started_at) - epoch(done.created_at))
            wait_for(lambda: Run.get_by_id(run.id).status not in (RunStatus.QUEUED,
                                                                  RunStatus.RUNNING),
                     300, "reprocess to finish")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        session.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"files copied in at once:        {args.files} (copy took {copy_end - copy_start:.2f}s)")
    print(f"every file ingested once:       {'yes' if exactly_once else 'NO'}")
    print(f"time until all ingested:        {all_in - copy_start:.2f}s from the start of the copy")
    print(f"ingest latency after stable:    median {statistics.median(latencies):.3f}s, "
          f"p90 {pct(latencies, 0.9):.3f}s, max {max(latencies):.3f}s")
    print(f"pickup, watcher job:            {', '.join(f'{v:.3f}s' for v in watcher_pickup)}")
    print(f"pickup, idle reprocess (n=10):  median {statistics.median(idle_pickup):.3f}s, "
          f"max {max(idle_pickup):.3f}s")
    return 0 if exactly_once else 1


if __name__ == "__main__":
    sys.exit(main())
