"""Tags hold through the real entry points: adding, removing, renaming and bringing back files,
with `vidpipe process` and under the running daemon (real Huey consumer, real watchdog), never
changes a tag already given, even for a file that sorts before every other; and the tag stage
says how many tags it gave."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from support import waiting
from PIL import Image, ImageDraw

from vidpipe.cli import main
from vidpipe.store.models import (
    Asset,
    AssetState,
    Run,
    RunStatus,
    Source,
    StageProgress,
)
from vidpipe.store.session import open_project

REPO = Path(__file__).resolve().parents[2]
DETECTOR = "support.pixel_detector:PixelDetector"  # crops without YOLO weights
wait_for = partial(waiting.wait_for, timeout=180)


def picture(path: Path, seed: int) -> Path:
    """A distinct synthetic image (its own pixels: its own crops from the pixel detector)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (320, 240), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.randrange(280), rng.randrange(200)
        draw.rectangle(
            [x, y, x + rng.randrange(20, 120), y + rng.randrange(20, 100)],
            fill=tuple(rng.randrange(256) for _ in range(3)),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)
    return path


def tags() -> dict[str, str | None]:
    """{file or file#crop: tag} of every asset, removed ones too (keyed by the row's file)."""
    out = {}
    for asset in Asset.select().order_by(Asset.id):
        key = (
            asset.file_path
            if asset.source == Source.UPLOADED
            else f"{asset.source_asset.file_path}#{asset.extraction_key}"
        )
        out[key] = asset.manifest_tag
    return out


def kept(before: dict, after: dict) -> None:
    """Every tag given before is still there, on the same asset."""
    moved = {k: (v, after.get(k)) for k, v in before.items() if v and after.get(k) != v}
    assert not moved, f"tags moved: {moved}"
    numbers = [v for v in after.values() if v]
    assert len(numbers) == len(set(numbers)), "a tag names two assets"


def tag_report() -> str:
    run = Run.select().where(Run.kind == "process").order_by(Run.id.desc()).first()
    return StageProgress.get(StageProgress.run == run, StageProgress.stage == "tags").message


def new_tags(before: dict, after: dict) -> set[str]:
    return {v for k, v in after.items() if v and not before.get(k)}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDPIPE_DETECTOR", DETECTOR)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    root = tmp_path / "project"
    assert main(["init", str(root)]) == 0
    session = open_project(root)
    yield root
    session.close()


def process(root: Path) -> None:
    assert main(["process", str(root)]) == 0


def test_vidpipe_process_adds_removes_renames_and_restores_without_moving_a_tag(project):
    cast = project / "cast"
    for index, name in enumerate(("b_hero.jpg", "c_villain.jpg", "d_extra.jpg")):
        picture(cast / name, seed=index)
    process(project)
    first = tags()
    assert all(first.values()) and len(first) > 3  # crops were cut and tagged too
    assert f"{len(first)} new tag(s)" in tag_report()

    # A drop that sorts before every other file.
    picture(cast / "000_first.jpg", seed=10)
    process(project)
    second = tags()
    kept(first, second)
    added = new_tags(first, second)
    assert added and all(second[k] for k in second if k.startswith("cast/000_first.jpg"))
    assert f"{len(added)} new tag(s)" in tag_report()
    assert "no existing tag changed" in tag_report()

    # Removed: the others keep theirs; the removed rows keep theirs for the file's return.
    villain = (cast / "c_villain.jpg").read_bytes()
    (cast / "c_villain.jpg").unlink()
    process(project)
    third = tags()
    kept(second, third)
    assert Asset.get(Asset.file_path == "cast/c_villain.jpg").state == AssetState.REMOVED
    assert tag_report().startswith("no new tags")

    # A newcomer meanwhile never takes the removed asset's numbers.
    picture(cast / "e_newcomer.jpg", seed=20)
    process(project)
    fourth = tags()
    kept(third, fourth)
    assert not new_tags(third, fourth) & {v for k, v in third.items() if "c_villain" in k}

    # Renamed so that it sorts first: the same asset, the same tag.
    os.replace(cast / "d_extra.jpg", cast / "0_renamed.jpg")
    process(project)
    fifth = tags()
    extra_tag = fourth["cast/d_extra.jpg"]
    assert fifth["cast/0_renamed.jpg"] == extra_tag and "cast/d_extra.jpg" not in fifth
    kept({k: v for k, v in fourth.items() if not k.startswith("cast/d_extra.jpg")}, fifth)

    # The removed file comes back, under its old name: its old tags.
    (cast / "c_villain.jpg").write_bytes(villain)
    process(project)
    sixth = tags()
    kept(fifth, sixth)
    assert Asset.get(Asset.file_path == "cast/c_villain.jpg").state == AssetState.PROCESSED
    assert tag_report().startswith("no new tags")


# -- under the daemon ------------------------------------------------------------------------------


def start_daemon(root: Path, log: Path) -> subprocess.Popen:
    from vidpipe.ops.daemon_state import daemon_status

    env = {**os.environ, "VIDPIPE_DETECTOR": DETECTOR}  # PYTHONPATH: set by tests/conftest.py
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "daemon.main", str(root)],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    wait_for(
        lambda: process.poll() is not None or daemon_status(root).pid == process.pid,
        what="the daemon to start",
    )
    assert process.poll() is None, log.read_text()
    return process


def settled(files: set[str]) -> bool:
    """The daemon is done: exactly these uploaded files live, all processed, no job left."""
    live = {
        a.file_path: a
        for a in Asset.select().where(
            Asset.source == Source.UPLOADED, Asset.state != AssetState.REMOVED
        )
    }
    busy = (
        Run.select()
        .where(Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED]))
        .exists()
    )
    return (
        set(live) == files
        and not busy
        and all(a.state in (AssetState.PROCESSED, AssetState.ERROR) for a in live.values())
        and all(a.manifest_tag for a in live.values())
    )


def test_the_daemon_adds_removes_and_renames_without_moving_a_tag(project, tmp_path):
    places = project / "locations"
    picture(places / "loc_valley.jpg", seed=1)
    daemon = start_daemon(project, tmp_path / "daemon.log")
    try:
        wait_for(lambda: settled({"locations/loc_valley.jpg"}), what="the first drop")
        first = tags()

        # The case: a second location dropped later, sorting before the first.
        shutil.copy(picture(tmp_path / "grace.jpg", seed=2), places / "loc_office_grace.jpg")
        picture(places / "000_first.jpg", seed=3)
        files = {
            "locations/loc_valley.jpg",
            "locations/loc_office_grace.jpg",
            "locations/000_first.jpg",
        }
        wait_for(lambda: settled(files), what="the later drops")
        second = tags()
        kept(first, second)
        valley = Asset.get(Asset.file_path == "locations/loc_valley.jpg")
        assert valley.manifest_tag == first["locations/loc_valley.jpg"]
        assert f"] {valley.manifest_tag}, " in valley.reverse_prompt  # "[offline] ENV_01, ..."

        (places / "000_first.jpg").unlink()
        os.replace(places / "loc_office_grace.jpg", places / "a_office.jpg")
        files = {"locations/loc_valley.jpg", "locations/a_office.jpg"}
        wait_for(lambda: settled(files), what="the removal and the rename")
        third = tags()
        for key, tag in second.items():  # the renamed image and its crops, same tags
            if key.startswith("locations/loc_office_grace.jpg"):
                renamed = key.replace("loc_office_grace.jpg", "a_office.jpg")
                assert third[renamed] == tag, renamed
        assert third["locations/000_first.jpg"] == second["locations/000_first.jpg"]
        kept({k: v for k, v in second.items() if "loc_office_grace" not in k}, third)
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=90)
