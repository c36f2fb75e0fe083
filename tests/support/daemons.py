"""A real daemon in a subprocess, for the tests that start one: start it (and wait until its
heartbeat is in the project database), stop it with SIGTERM, write images for it to find, tell
when its runs are idle, and the points in a run where a kill lands."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

from PIL import Image, ImageDraw

from support import REPO, waiting
from vidpipe.ops.daemon_state import daemon_status, read_heartbeat
from vidpipe.store.models import Asset, AssetState, Run, RunStatus, StageProgress, StageStatus

TIMEOUT = 120
VIDPIPE = str(Path(sys.executable).parent / "vidpipe")
wait_for = partial(waiting.wait_for, timeout=TIMEOUT)


def start_daemon(root: Path, *extra: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "daemon.main", str(root), *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for(
        lambda: (
            process.poll() is not None
            or (daemon_status(root).pid == process.pid and read_heartbeat(_project(root)))
        ),
        what="daemon start",
    )
    assert process.poll() is None, process.stdout.read() if process.stdout else ""
    return process


def stop_daemon(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    return out


def _project(root):
    from vidpipe.store.project import find_project

    return find_project(root)


def write_images(folder: Path, count: int, seed: int = 1, size=(640, 480)) -> list[Path]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        x, y = rng.randrange(size[0] // 2), rng.randrange(size[1] // 2)
        draw.ellipse(
            [x, y, x + size[0] // 3, y + size[1] // 3],
            fill=tuple(rng.randrange(256) for _ in range(3)),
        )
        path = folder / f"img{index:03d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def idle(expected_assets: int | None = None) -> bool:
    """Every run ended, and (optionally) that many uploaded assets all processed."""
    if (
        Run.select()
        .where(Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED]))
        .exists()
    ):
        return False
    if expected_assets is None:
        return True
    uploaded = Asset.select().where(Asset.source == "uploaded", Asset.state != "removed")
    return (
        uploaded.count() == expected_assets
        and not uploaded.where(Asset.state == AssetState.PENDING).exists()
    )


def stage_rows() -> dict[str, StageProgress]:
    run = Run.select().where(Run.status == RunStatus.RUNNING).first()
    if run is None:
        return {}
    return {row.stage: row for row in StageProgress.select().where(StageProgress.run == run.id)}


KILL_POINTS = {
    # the run was claimed; no stage finished
    "claimed": lambda rows: bool(rows),
    "contact_sheet": lambda rows: rows and rows["contact_sheet"].status == StageStatus.RUNNING,
    # in the middle of the slow stage, some assets done
    "faces": lambda rows: (
        rows and rows["faces"].status == StageStatus.RUNNING and rows["faces"].done >= 1
    ),
    # faces finished: prompts and tags are under way
    "after_faces": lambda rows: (
        rows and rows["faces"].status in (StageStatus.DONE, StageStatus.SKIPPED)
    ),
}
