"""Manifest tags: sequential per type, ordered by the parent's sort_order then detection
confidence, the same whatever order the rows were created in, and a person's tag is kept."""

from __future__ import annotations

import random

import pytest

from vidpipe.store.edits import edit_field, undo
from vidpipe.store.models import Asset, AssetState, AssetType, Manifest, Source
from vidpipe.store.session import open_project
from vidpipe.pipeline.tags import assign_tags

# (file, type, sort_order) of uploaded images, and (parent file, key, type, confidence) of crops.
UPLOADED = [
    ("b_street.jpg", AssetType.ENVIRONMENT, 2),
    ("a_hero.jpg", AssetType.CHARACTER, 1),
    ("c_market.jpg", AssetType.ENVIRONMENT, 0),
    ("d_sword.jpg", AssetType.OBJECT, 3),
    ("e_unsorted.jpg", AssetType.UNKNOWN, 3),
]
CROPS = [
    ("c_market.jpg", "det:person:0", AssetType.CHARACTER, 0.61),
    ("c_market.jpg", "det:person:1", AssetType.CHARACTER, 0.93),
    ("c_market.jpg", "det:cup:2", AssetType.OBJECT, 0.80),
    ("a_hero.jpg", "det:person:0", AssetType.CHARACTER, 0.99),
    ("a_hero.jpg", "face:0", AssetType.CHARACTER, 0.97),
    ("b_street.jpg", "det:car:0", AssetType.OBJECT, 0.88),
    ("b_street.jpg", "det:car:1", AssetType.OBJECT, 0.88),  # a tie: broken by box position
]
EXPECTED = {
    # sort_order 0: c_market (ENV_01) and its crops, most confident first
    "c_market.jpg": "ENV_01",
    "c_market.jpg#det:person:1": "CHAR_01",
    "c_market.jpg#det:person:0": "CHAR_02",
    "c_market.jpg#det:cup:2": "OBJ_01",
    # sort_order 1: a_hero, the uploaded image before its crops
    "a_hero.jpg": "CHAR_03",
    "a_hero.jpg#det:person:0": "CHAR_04",
    "a_hero.jpg#face:0": "CHAR_05",
    # sort_order 2
    "b_street.jpg": "ENV_02",
    "b_street.jpg#det:car:0": "OBJ_02",
    "b_street.jpg#det:car:1": "OBJ_03",
    # sort_order 3: by file path
    "d_sword.jpg": "OBJ_04",
    "e_unsorted.jpg": "REF_01",
}


def key(asset: Asset) -> str:
    if asset.source_asset_id is None:
        return asset.file_path
    return f"{Asset.get_by_id(asset.source_asset_id).file_path}#{asset.extraction_key}"


def build(manifest: Manifest, seed: int | None) -> None:
    """Create the rows, uploaded and crops interleaved in a random (but valid) order."""
    uploaded, crops = list(UPLOADED), list(CROPS)
    if seed is not None:
        random.Random(seed).shuffle(uploaded)
        random.Random(seed + 1).shuffle(crops)
    ids: dict[str, int] = {}
    pending = crops
    for file, asset_type, sort_order in uploaded:
        ids[file] = Asset.create(manifest=manifest, name=file, asset_type=asset_type,
                                 sort_order=sort_order, file_path=file, content_hash=file).id
        ready = [c for c in pending if c[0] in ids]
        pending = [c for c in pending if c[0] not in ids]
        for parent, extraction_key, asset_type_, confidence in ready:
            index = int(extraction_key.rsplit(":", 1)[1])
            Asset.create(manifest=manifest, name=f"{parent} {extraction_key}",
                         asset_type=asset_type_, source=Source.EXTRACTED, source_asset=ids[parent],
                         extraction_key=extraction_key,
                         file_path=f".vidpipe/crops/{parent}-{extraction_key}.png",
                         content_hash=f"{parent}{extraction_key}", detection_confidence=confidence,
                         crop_bbox=[10 * index, 0, 10 * index + 50, 50])


def tags(manifest: Manifest) -> dict[str, str]:
    return {key(a): a.manifest_tag for a in Asset.select().where(Asset.manifest == manifest)}


def test_sequential_per_type_in_parent_then_confidence_order(session):
    manifest = Manifest.create(name="m", folder="m")
    build(manifest, seed=None)
    changed = assign_tags(manifest)
    assert tags(manifest) == EXPECTED
    assert len(changed) == len(EXPECTED)
    assert assign_tags(manifest) == {}  # a rerun changes nothing


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_tags_whatever_insertion_order(tmp_path, seed):
    results = []
    for index, order in enumerate((None, seed)):
        with open_project(tmp_path / f"project{index}", create=True):
            manifest = Manifest.create(name="m", folder="m")
            build(manifest, order)
            assign_tags(manifest)
            results.append(tags(manifest))
    assert results[0] == results[1] == EXPECTED


def test_person_tag_survives_reruns_and_its_number_is_skipped(session):
    manifest = Manifest.create(name="m", folder="m")
    build(manifest, seed=None)
    assign_tags(manifest)
    hero = Asset.get(Asset.file_path == "a_hero.jpg")
    edit_field(hero.id, "manifest_tag", "CHAR_01")  # the person wants the hero first

    assign_tags(manifest)
    assign_tags(manifest)
    result = tags(manifest)
    assert result["a_hero.jpg"] == "CHAR_01"
    others = sorted(t for k, t in result.items() if t.startswith("CHAR") and k != "a_hero.jpg")
    assert others == ["CHAR_02", "CHAR_03", "CHAR_04", "CHAR_05"]
    assert list(result.values()).count("CHAR_01") == 1
    assert result["c_market.jpg#det:person:1"] == "CHAR_02"

    # A free-form tag is kept as well, and frees its old number for the others.
    edit_field(hero.id, "manifest_tag", "HERO")
    assign_tags(manifest)
    result = tags(manifest)
    assert result["a_hero.jpg"] == "HERO"
    assert result["c_market.jpg#det:person:1"] == "CHAR_01"

    # Undoing the person's edits gives the tag back to the machine.
    undo(hero.id, "manifest_tag")
    undo(hero.id, "manifest_tag")
    assign_tags(manifest)
    assert tags(manifest) == EXPECTED


def test_removed_and_failed_assets_lose_their_tag_without_holes(session):
    manifest = Manifest.create(name="m", folder="m")
    build(manifest, seed=None)
    assign_tags(manifest)
    Asset.update(state=AssetState.REMOVED).where(Asset.file_path == "c_market.jpg").execute()
    Asset.update(state=AssetState.ERROR).where(Asset.file_path == "b_street.jpg").execute()

    assign_tags(manifest)

    result = tags(manifest)
    # The gone images and their crops lose their tags; the others close ranks.
    gone = {k for k in result if k.startswith(("c_market.jpg", "b_street.jpg"))}
    assert {k for k, t in result.items() if t is None} == gone
    assert {k: t for k, t in result.items() if k not in gone} == {
        "a_hero.jpg": "CHAR_01",
        "a_hero.jpg#det:person:0": "CHAR_02",
        "a_hero.jpg#face:0": "CHAR_03",
        "d_sword.jpg": "OBJ_01",
        "e_unsorted.jpg": "REF_01",
    }

    # The files come back: the numbering is the original one again.
    Asset.update(state=AssetState.PENDING).where(
        Asset.file_path.in_(["c_market.jpg", "b_street.jpg"])).execute()
    assign_tags(manifest)
    assert tags(manifest) == EXPECTED


def test_type_change_renumbers(session):
    manifest = Manifest.create(name="m", folder="m")
    build(manifest, seed=None)
    assign_tags(manifest)
    sword = Asset.get(Asset.file_path == "d_sword.jpg")
    edit_field(sword.id, "asset_type", "character")
    assign_tags(manifest)
    result = tags(manifest)
    assert result["d_sword.jpg"] == "CHAR_06"
    assert sorted(t for t in result.values() if t.startswith("OBJ")) == ["OBJ_01", "OBJ_02", "OBJ_03"]
