"""The folder watcher in-process on a real folder (inotify, and polling as the fallback)."""

from __future__ import annotations

import errno
import os
import shutil
import threading
import time

import pytest

from support.waiting import wait_for
from daemon.watcher import FolderIngester
from vidpipe.store.edits import edit_field
from vidpipe.store.models import Asset, AssetState

TIMEOUT = 60


@pytest.fixture
def watch(session):
    watchers = []

    def start(**options):
        options.setdefault("queue_jobs", False)
        watcher = FolderIngester(session.project, session.settings, **options)
        watcher.start()
        assert watcher.ready.wait(TIMEOUT)
        watchers.append(watcher)
        return watcher

    yield start
    for watcher in watchers:
        watcher.stop()


def uploaded(**where):
    query = Asset.select().where(Asset.source == "uploaded")
    for field, value in where.items():
        query = query.where(getattr(Asset, field) == value)
    return query


def test_drops_folders_and_ignored_names(session, watch, make_image, tmp_path):
    root = session.project.root
    watch()
    make_image("a.png", folder=root)
    make_image("hidden.png", folder=root / ".cache")
    make_image(".dotfile.png", folder=root)
    make_image("b.png.part", folder=root, format="PNG")
    # rsync: writes .name.XXXXXX, then renames it into place
    make_image(".c.png.Ab12Cd", folder=root, format="PNG", color=(1, 2, 3))
    os.rename(root / ".c.png.Ab12Cd", root / "c.png")
    # a whole folder dropped in at once
    outside = tmp_path / "outside" / "characters"
    for index in range(3):
        make_image(f"hero{index}.png", folder=outside, color=(index * 60, 20, 20))
    shutil.move(str(outside), str(root / "characters"))

    wait_for(lambda: uploaded().count() == 5, what="5 assets")
    paths = sorted(a.file_path for a in uploaded())
    assert paths == [
        "a.png",
        "c.png",
        "characters/hero0.png",
        "characters/hero1.png",
        "characters/hero2.png",
    ]
    assert {a.manifest.name for a in uploaded(file_path="characters/hero0.png")} == {"characters"}


def test_slow_chunked_write_is_not_read_half_written(session, watch, make_image, tmp_path):
    root = session.project.root
    seen_while_writing = []
    writer_done = threading.Event()

    def on_ingested(outcome):
        if any(path.endswith("slow.png") for path in outcome.assets) and not writer_done.is_set():
            seen_while_writing.append(outcome)

    watch(on_ingested=on_ingested, stable_s=1.0)
    data = make_image("src.png", size=(900, 700), color=(10, 200, 30), folder=tmp_path).read_bytes()
    chunk = len(data) // 8 + 1
    with open(root / "slow.png", "wb") as handle:
        for start in range(0, len(data), chunk):
            handle.write(data[start : start + chunk])
            handle.flush()
            time.sleep(0.3)  # the writer stalls, keeping the file open
        writer_done.set()
    wait_for(lambda: uploaded(file_path="slow.png").exists(), what="slow.png ingested")
    asset = uploaded(file_path="slow.png").get()
    assert seen_while_writing == []
    assert asset.state == AssetState.PENDING and asset.error is None
    assert asset.file_size == len(data) and (asset.width, asset.height) == (900, 700)


def test_rename_keeps_the_asset_and_delete_marks_removed(session, watch, make_image):
    root = session.project.root
    watch()
    make_image("old.png", folder=root)
    wait_for(lambda: uploaded(file_path="old.png").exists(), what="old.png")
    asset = uploaded(file_path="old.png").get()
    edit_field(asset.id, "reverse_prompt", "a person wrote this")

    (root / "props").mkdir()
    os.rename(root / "old.png", root / "props" / "new.png")
    wait_for(lambda: Asset.get_by_id(asset.id).file_path == "props/new.png", what="move")
    moved = Asset.get_by_id(asset.id)
    assert moved.reverse_prompt == "a person wrote this"
    assert moved.state != AssetState.REMOVED and moved.manifest.name == "props"
    assert uploaded().count() == 1

    os.remove(root / "props" / "new.png")
    wait_for(lambda: Asset.get_by_id(asset.id).state == AssetState.REMOVED, what="removed")
    assert Asset.get_by_id(asset.id).reverse_prompt == "a person wrote this"  # kept, not destroyed


def test_inotify_limit_falls_back_to_polling(session, watch, make_image):
    def exhausted():
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    watcher = watch(observer_factory=exhausted, poll_s=0.2)
    assert watcher.mode == "polling"
    assert "inotify limit reached" in watcher.note and "max_user_watches" in watcher.note
    make_image("polled.png", folder=session.project.root)
    wait_for(lambda: uploaded(file_path="polled.png").exists(), what="polled.png")


def test_startup_reconcile_picks_up_what_changed_while_stopped(session, watch, make_image):
    root = session.project.root
    make_image("before.png", folder=root)
    watch()  # ready is set after the reconcile
    assert uploaded(file_path="before.png").exists()
