"""Bulk ingest (``ingest_files``): the same outcome as ``ingest_file`` on each path in turn."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from vidpipe.pipeline import ingest
from vidpipe.store.edits import edit_field
from vidpipe.pipeline.ingest import IngestStatus, ingest_file, ingest_files, mark_removed
from vidpipe.store.models import Asset, FieldEdit, StageMark, db
from vidpipe.store.session import open_project
from vidpipe.pipeline.stages.base import mark_done


def write(path: Path, color, size=(64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def scenario(root: Path, project, settings) -> list[Path]:
    """Assets already known, then changes on disk; returns the paths the batch is given."""
    cup = write(root / "props" / "cup.png", (200, 0, 0))
    old = write(root / "props" / "old.png", (0, 200, 0))
    gone = write(root / "props" / "gone.png", (0, 0, 200))
    hero = write(root / "characters" / "hero.png", (90, 90, 90))
    for path in (cup, old, gone, hero):
        ingest_file(project, settings, path)
    hero_asset = Asset.get(Asset.file_path == "characters/hero.png")
    mark_done(hero_asset, "contact_sheet", "fp")
    edit_field(hero_asset.id, "name", "The Hero")
    gone_bytes = gone.read_bytes()
    gone.unlink()
    mark_removed(project, gone)

    os.rename(old, root / "props" / "renamed.png")  # a rename: keeps its asset
    gone.write_bytes(gone_bytes)  # a removed file comes back
    write(hero, (10, 250, 10), size=(48, 64))  # new content at the same path
    new = write(root / "props" / "new.png", (1, 2, 3))
    shutil.copy(new, root / "props" / "new-copy.png")  # duplicate of a file new in this batch
    (root / "sets").mkdir()
    shutil.copy(new, root / "sets" / "new.png")  # same content, another manifest
    shutil.copy(cup, root / "props" / "cup-twin.png")  # duplicate of a known asset
    broken = root / "props" / "broken.png"
    broken.write_bytes(new.read_bytes()[:60])  # truncated: an error asset
    shutil.copy(broken, root / "props" / "broken-copy.png")  # same bad bytes: its own error
    outside = write(root.parent / f"{root.name}-outside" / "o.png", (5, 5, 5))
    (root / "props" / "link.png").symlink_to(outside)  # never followed
    twice = write(root / "props" / "twice.png", (7, 7, 7))
    shutil.copy(hero, root / "characters" / "hero-copy.png")  # of hero's new content
    shutil.copy(root / "props" / "renamed.png", root / "props" / "renamed-copy.png")
    return [
        root / "props" / "new.png",
        root / "props" / "renamed.png",
        gone,
        hero,
        root / "props" / "new-copy.png",
        root / "sets" / "new.png",
        root / "props" / "cup-twin.png",
        broken,
        root / "props" / "broken-copy.png",
        root / "props" / "link.png",
        twice,
        twice,
        root / "characters" / "hero-copy.png",
        root / "props" / "renamed-copy.png",
    ]


def snapshot(root: Path, results) -> dict:
    assets = [
        (
            a.id,
            a.manifest.name.replace(root.name, "ROOT"),
            a.name,
            a.asset_type,
            a.type_source,
            a.file_path,
            a.content_hash,
            a.file_size,
            a.width,
            a.height,
            a.state,
            a.error,
        )
        for a in Asset.select().order_by(Asset.id)
    ]
    marks = sorted((m.asset_id, m.stage) for m in StageMark.select())
    edits = sorted((e.asset_id, e.field, e.new_value) for e in FieldEdit.select())
    outcome = [(r.status, r.asset.id, r.asset.file_path, r.asset.state) for r in results]
    return {"assets": assets, "marks": marks, "edits": edits, "results": outcome}


def run(tmp_path: Path, name: str, how) -> dict:
    session = open_project(tmp_path / name / "project", create=True)
    try:
        root = session.project.root
        paths = scenario(root, session.project, session.settings)
        results = how(session.project, session.settings, paths)
        return snapshot(root, results)
    finally:
        session.close()


def one_by_one(project, settings, paths):
    return [ingest_file(project, settings, path) for path in paths]


@pytest.mark.parametrize("batch_size", [64, 3])
def test_bulk_ingest_matches_one_file_at_a_time(tmp_path, batch_size):
    # Folder names of one length: a symlink's size (its target's length) is compared too.
    expected = run(tmp_path, "single", one_by_one)
    bulk = run(
        tmp_path,
        f"bulk{batch_size:02d}",
        lambda project, settings, paths: ingest_files(
            project, settings, paths, batch_size=batch_size
        ),
    )
    assert bulk == expected

    statuses = [status for status, *_ in bulk["results"]]
    assert statuses == [
        IngestStatus.NEW,  # props/new.png
        IngestStatus.MOVED,  # props/old.png -> props/renamed.png, same asset
        IngestStatus.RESTORED,  # props/gone.png came back
        IngestStatus.CHANGED,  # characters/hero.png, new content
        IngestStatus.DUPLICATE,  # props/new-copy.png: the row new in this very batch
        IngestStatus.NEW,  # sets/new.png: same content, another manifest
        IngestStatus.DUPLICATE,  # props/cup-twin.png: of the known cup
        IngestStatus.ERROR,  # truncated
        IngestStatus.ERROR,  # the same bad bytes again: an error asset of its own
        IngestStatus.ERROR,  # symlink to outside
        IngestStatus.NEW,  # props/twice.png ...
        IngestStatus.UNCHANGED,  # ... given twice: the second sees the first
        IngestStatus.DUPLICATE,  # of hero as changed earlier in this batch
        IngestStatus.DUPLICATE,  # of the asset renamed earlier in this batch
    ]
    results = bulk["results"]
    assert results[4][1] == results[0][1]  # the in-batch duplicate points at the new asset
    assert results[1][2] == "props/renamed.png"
    assert results[10][1] == results[11][1]
    assert results[12][1] == results[3][1] and results[13][1] == results[1][1]
    errors = {row[5]: row[11] for row in bulk["assets"] if row[11]}
    assert "truncated" in errors["props/broken.png"]
    assert "truncated" in errors["props/broken-copy.png"]
    assert errors["props/link.png"] == "symlink points outside the project folder; not followed"
    hero_id = next(row[0] for row in bulk["assets"] if row[5] == "characters/hero.png")
    assert not [m for m in bulk["marks"] if m[0] == hero_id]  # new pixels: stages redo it
    assert (hero_id, "name", "The Hero") in bulk["edits"]  # the person's edit stays


def test_a_file_renamed_twice_within_one_batch_keeps_its_asset(session):
    root = session.project.root
    first = write(root / "props" / "a.png", (40, 50, 60))
    asset = ingest_file(session.project, session.settings, first).asset
    edit_field(asset.id, "description", "kept")
    os.rename(first, root / "props" / "b.png")
    (root / "locations").mkdir()
    shutil.copy(root / "props" / "b.png", root / "locations" / "c.png")

    results = ingest_files(
        session.project, session.settings, [root / "props" / "b.png", root / "locations" / "c.png"]
    )

    assert [r.status for r in results] == [IngestStatus.MOVED, IngestStatus.NEW]
    assert results[0].asset.id == asset.id
    assert Asset.get_by_id(asset.id).description == "kept"
    assert Asset.select().count() == 2


def test_files_are_read_outside_the_write_transaction(session, monkeypatch):
    root = session.project.root
    paths = [write(root / f"img{i}.png", (i, 0, 0)) for i in range(3)]
    real_probe = ingest.imaging.probe
    checked = []

    def probe(path, max_pixels, *, within):
        checked.append(db.in_transaction())
        return real_probe(path, max_pixels, within=within)

    class InCallerThread:  # so that db.in_transaction() is asked of the thread that writes
        def map(self, fn, items):
            return map(fn, list(items))

    monkeypatch.setattr(ingest.imaging, "probe", probe)
    monkeypatch.setattr(ingest, "_observer_pool", InCallerThread)
    results = ingest_files(session.project, session.settings, paths, batch_size=2)

    assert [r.status for r in results] == [IngestStatus.NEW] * 3
    assert checked == [False, False, False]


def test_refused_path_refuses_the_whole_call(session, tmp_path):
    from vidpipe.errors import ProjectError

    good = write(session.project.root / "ok.png", (1, 1, 1))
    outside = write(tmp_path / "elsewhere" / "o.png", (2, 2, 2))
    with pytest.raises(ProjectError, match="not inside the project"):
        ingest_files(session.project, session.settings, [good, outside])
    assert Asset.select().count() == 0


def test_watcher_ingest_of_a_dropped_folder_uses_the_bulk_path(session):
    from daemon.ingesting import ingest_paths

    root = session.project.root
    drop = root / "characters"
    for i in range(5):
        write(drop / f"c{i}.png", (i * 40, 10, 10))
    shutil.copy(drop / "c0.png", drop / "c0-again.png")

    outcome = ingest_paths(session.project, session.settings, [drop])

    assert outcome.ingested == 6
    assert Asset.select().count() == 5
    assert outcome.assets[str(drop / "c0-again.png")] == outcome.assets[str(drop / "c0.png")]
    assert len(outcome.manifests) == 1
