"""Ingest: content-hash identity, dedup, renames, removals, changed content, manifests, type hints."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image

from vidpipe.store.edits import edit_field, history
from vidpipe.pipeline.ingest import (
    IngestStatus,
    ingest_file,
    iter_input_files,
    reconcile,
    type_hint,
)
from vidpipe.store.models import Asset, AssetState, AssetType, Manifest, StageMark
from vidpipe.pipeline.stages.base import mark_done


def write(path: Path, color=(200, 30, 30), size=(320, 240), fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


def by_path() -> dict[str, Asset]:
    return {a.file_path: a for a in Asset.select()}


def test_same_content_twice_in_one_manifest_is_one_asset(session):
    root = session.project.root
    first = write(root / "props" / "cup.png")
    shutil.copy(first, root / "props" / "cup-copy.png")

    summary = reconcile(session.project, session.settings)

    assert summary.count(IngestStatus.NEW) == 1
    assert summary.count(IngestStatus.DUPLICATE) == 1
    assert Asset.select().count() == 1
    kept = Asset.get()
    assert kept.file_path in ("props/cup.png", "props/cup-copy.png")
    # A second scan adds nothing either.
    reconcile(session.project, session.settings)
    assert Asset.select().count() == 1

    # Deleting the copy the asset points at: the asset follows the other copy, not removed.
    edit_field(kept.id, "name", "Cup")
    (root / kept.file_path).unlink()
    summary = reconcile(session.project, session.settings)
    survivor = Asset.get_by_id(kept.id)
    assert Asset.select().count() == 1
    assert survivor.state == AssetState.PENDING and survivor.name == "Cup"
    assert (root / survivor.file_path).is_file()


def test_same_content_in_two_manifests_is_two_assets(session):
    root = session.project.root
    write(root / "props" / "cup.png")
    (root / "sets").mkdir()
    shutil.copy(root / "props" / "cup.png", root / "sets" / "cup.png")

    reconcile(session.project, session.settings)

    assert sorted(a.manifest.name for a in Asset.select()) == ["props", "sets"]


def test_renamed_file_keeps_its_asset_and_its_edits(session):
    root = session.project.root
    write(root / "characters" / "hero.png")
    reconcile(session.project, session.settings)
    asset = Asset.get()
    edit_field(asset.id, "visual_description", "a red square, hand-written")
    edit_field(asset.id, "name", "The Hero")

    os.rename(root / "characters" / "hero.png", root / "characters" / "hero-final.png")
    summary = reconcile(session.project, session.settings)

    assert summary.count(IngestStatus.MOVED) == 1
    assert not summary.removed
    assert Asset.select().count() == 1
    moved = Asset.get_by_id(asset.id)
    assert moved.file_path == "characters/hero-final.png"
    assert moved.visual_description == "a red square, hand-written"
    assert moved.name == "The Hero"
    assert moved.state == AssetState.PENDING
    assert [e.field for e in history(asset.id)] == ["visual_description", "name"]


def test_file_moved_to_another_manifest_keeps_asset(session):
    root = session.project.root
    write(root / "inbox" / "castle.png")
    reconcile(session.project, session.settings)
    asset = Asset.get()
    edit_field(asset.id, "description", "the castle")

    (root / "locations").mkdir()
    shutil.move(root / "inbox" / "castle.png", root / "locations" / "castle.png")
    reconcile(session.project, session.settings)

    moved = Asset.get_by_id(asset.id)
    assert moved.manifest.name == "locations"
    assert moved.description == "the castle"
    assert Asset.select().count() == 1


def test_deleted_file_is_marked_removed_not_destroyed(session):
    root = session.project.root
    write(root / "props" / "cup.png")
    write(root / "props" / "lamp.png", color=(0, 0, 255))
    reconcile(session.project, session.settings)
    cup = Asset.get(Asset.file_path == "props/cup.png")
    edit_field(cup.id, "reverse_prompt", "a cup, person's words")

    (root / "props" / "cup.png").unlink()
    summary = reconcile(session.project, session.settings)

    assert [a.id for a in summary.removed] == [cup.id]
    cup = Asset.get_by_id(cup.id)
    assert cup.state == AssetState.REMOVED
    assert cup.reverse_prompt == "a cup, person's words"
    assert Asset.get(Asset.file_path == "props/lamp.png").state == AssetState.PENDING

    # The file comes back: the same asset, restored, edit intact.
    write(root / "props" / "cup.png")
    summary = reconcile(session.project, session.settings)
    restored = Asset.get_by_id(cup.id)
    assert restored.state == AssetState.PENDING
    assert restored.reverse_prompt == "a cup, person's words"
    assert Asset.select().count() == 2


def test_changed_content_at_same_path_redoes_stages_and_keeps_edits(session):
    root = session.project.root
    path = write(root / "props" / "cup.png", size=(320, 240))
    reconcile(session.project, session.settings)
    asset = Asset.get()
    mark_done(asset, "contact_sheet", "fp")
    mark_done(asset, "prompts", "fp")
    edit_field(asset.id, "visual_description", "kept")
    old_hash = asset.content_hash

    write(path, color=(10, 200, 10), size=(200, 300))
    os.utime(path, (1_000_000, 1_000_000))  # make sure the mtime differs from the first write
    summary = reconcile(session.project, session.settings)

    assert summary.count(IngestStatus.CHANGED) == 1
    changed = Asset.get_by_id(asset.id)
    assert changed.content_hash != old_hash
    assert (changed.width, changed.height) == (200, 300)
    assert changed.visual_description == "kept"
    assert StageMark.select().where(StageMark.asset == asset.id).count() == 0
    assert Asset.select().count() == 1


def test_unchanged_file_is_not_rehashed(session, monkeypatch):
    root = session.project.root
    write(root / "props" / "cup.png")
    reconcile(session.project, session.settings)

    import vidpipe.pipeline.ingest as ingest

    def fail(path):
        raise AssertionError(f"re-hashed unchanged {path}")

    monkeypatch.setattr(ingest, "content_hash", fail)
    summary = reconcile(session.project, session.settings)
    assert summary.count(IngestStatus.UNCHANGED) == 1


def test_manifests_from_folders(session):
    root = session.project.root
    write(root / "loose.png")
    write(root / "characters" / "a.png", color=(1, 2, 3))
    write(root / "props" / "deep" / "nested" / "b.png", color=(4, 5, 6))

    reconcile(session.project, session.settings)

    manifests = {m.name: m.folder for m in Manifest.select()}
    assert manifests == {root.name: "", "characters": "characters", "props": "props"}
    assets = by_path()
    assert assets["loose.png"].manifest.name == root.name
    assert assets["characters/a.png"].manifest.name == "characters"
    assert assets["props/deep/nested/b.png"].manifest.name == "props"


def test_type_hints_from_folders_and_prefixes(session):
    root = session.project.root
    write(root / "characters" / "anyone.png", color=(1, 0, 0))
    write(root / "props" / "thing.png", color=(2, 0, 0))
    write(root / "locations" / "place.png", color=(3, 0, 0))
    write(root / "misc" / "char_bob.png", color=(4, 0, 0))
    write(root / "misc" / "prop_sword.png", color=(5, 0, 0))
    write(root / "misc" / "env_forest.png", color=(6, 0, 0))
    write(root / "misc" / "unknown.png", color=(7, 0, 0))

    reconcile(session.project, session.settings)

    types = {path: (a.asset_type, a.type_source) for path, a in by_path().items()}
    assert types == {
        "characters/anyone.png": (AssetType.CHARACTER, "hint"),
        "props/thing.png": (AssetType.OBJECT, "hint"),
        "locations/place.png": (AssetType.ENVIRONMENT, "hint"),
        "misc/char_bob.png": (AssetType.CHARACTER, "hint"),
        "misc/prop_sword.png": (AssetType.OBJECT, "hint"),
        "misc/env_forest.png": (AssetType.ENVIRONMENT, "hint"),
        "misc/unknown.png": (AssetType.UNKNOWN, "default"),
    }
    assert type_hint(Path("Characters/x.png")) == AssetType.CHARACTER
    assert type_hint(Path("LOC_harbour.jpg")) == AssetType.ENVIRONMENT


def test_state_hidden_and_temporary_files_are_never_scanned(session):
    root = session.project.root
    write(root / "props" / "real.png")
    write(root / ".vidpipe" / "crops" / "crop.png", color=(0, 0, 1))
    write(root / ".vidpipe" / "contact_sheets" / "sheet.png", color=(0, 0, 2))
    write(root / ".hidden" / "secret.png", color=(0, 0, 3))
    write(root / "props" / ".dotfile.png", color=(0, 0, 4))
    write(root / "props" / "download.png.part", color=(0, 0, 5), fmt="PNG")
    write(root / "props" / "draft.png~", color=(0, 0, 6), fmt="PNG")
    write(root / "props" / "x.png.tmp", color=(0, 0, 7), fmt="PNG")
    (root / "props" / "notes.txt").write_text("not an image name")

    found = [p.relative_to(root).as_posix() for p in iter_input_files(session.project)]
    reconcile(session.project, session.settings)

    assert found == ["props/real.png"]
    assert list(by_path()) == ["props/real.png"]


def test_ingest_refuses_state_dir_and_outside_paths(session, tmp_path):
    import pytest

    from vidpipe.errors import ProjectError

    inside_state = write(session.project.state_dir / "crops" / "c.png")
    outside = write(tmp_path / "elsewhere" / "o.png")
    with pytest.raises(ProjectError, match="never ingested"):
        ingest_file(session.project, session.settings, inside_state)
    with pytest.raises(ProjectError, match="not inside the project"):
        ingest_file(session.project, session.settings, outside)
    assert Asset.select().count() == 0


def test_add_copies_into_manifest_and_dedups(session, tmp_path, bus_jpg):
    from vidpipe.pipeline.ingest import add_files

    results = add_files(session.project, session.settings, [bus_jpg], manifest="street")
    assert [r.status for r in results] == [IngestStatus.NEW]
    copied = session.project.root / "street" / "bus.jpg"
    assert copied.read_bytes() == bus_jpg.read_bytes()
    assert results[0].asset.file_path == "street/bus.jpg"
    assert (results[0].asset.width, results[0].asset.height) == (810, 1080)

    # Adding the same file again changes nothing.
    again = add_files(session.project, session.settings, [bus_jpg], manifest="street")
    assert again[0].asset.id == results[0].asset.id
    assert Asset.select().count() == 1

    # A different file with the same name gets a free name instead of overwriting.
    other = write(tmp_path / "other" / "bus.jpg", fmt="JPEG")
    third = add_files(session.project, session.settings, [other], manifest="street")
    assert third[0].asset.file_path == "street/bus-2.jpg"
    assert copied.read_bytes() == bus_jpg.read_bytes()
    assert not list((session.project.root / "street").glob(".*"))


def test_crops_are_removed_and_restored_with_their_source(session):
    root = session.project.root
    write(root / "props" / "cup.png")
    reconcile(session.project, session.settings)
    cup = Asset.get()
    crop = Asset.create(
        manifest=cup.manifest_id,
        name="cup crop",
        source="extracted",
        source_asset=cup.id,
        extraction_key="det:cup:0",
        file_path=".vidpipe/crops/cup-0.png",
        content_hash="x",
    )

    moved_away = root.parent / "cup.png"
    (root / "props" / "cup.png").rename(moved_away)
    reconcile(session.project, session.settings)
    assert Asset.get_by_id(crop.id).state == AssetState.REMOVED

    moved_away.rename(root / "props" / "cup.png")
    summary = reconcile(session.project, session.settings)
    assert summary.count(IngestStatus.RESTORED) == 1
    assert Asset.get_by_id(cup.id).state == AssetState.PENDING
    assert Asset.get_by_id(crop.id).state == AssetState.PENDING
