"""Several daemons on one project with a shared queue (PostgreSQL + Redis): images dropped into
the project as a person's copy ends, and daemons started as real processes."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from support import REPO


def drop_images(project: Path, staging: Path, folder: str, count: int, seed: int) -> None:
    """Images made outside the project, then moved in as one folder (as a person's copy ends)."""
    rng = random.Random(seed)
    made = staging / folder
    made.mkdir(parents=True)
    for index in range(count):
        image = Image.new("RGB", (320, 240), tuple(rng.randrange(256) for _ in range(3)))
        ImageDraw.Draw(image).ellipse(
            [40, 40, 200, 180], fill=tuple(rng.randrange(256) for _ in range(3))
        )
        image.save(made / f"{folder}-{index}.jpg", quality=90)
    shutil.move(str(made), str(project / folder))


def start_team_daemon(root: Path, env: dict) -> subprocess.Popen:
    """``vidpipe-daemon ROOT`` with ``env`` added to this process's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "daemon.main", str(root)],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
