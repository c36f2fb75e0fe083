"""Manifest tags: numbered per type in the parent's sort_order then detection confidence when
given together, the same whatever order the rows were created in; once given, a tag never
moves (new, removed and failed assets leave the others alone; numbers are never reused)."""

from __future__ import annotations

import random

import pytest

from vidpipe.errors import EditError
from vidpipe.store.edits import edit_field, history, redo, undo
from vidpipe.store.models import Asset, AssetState, AssetType, Manifest, Source
from vidpipe.store.session import open_project
from vidpipe.pipeline.tags import assign_tags, mismatched_tags
from vidpipe.store.edits import apply_ai_value

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
        ids[file] = Asset.create(
            manifest=manifest,
            name=file,
            asset_type=asset_type,
            sort_order=sort_order,
            file_path=file,
            content_hash=file,
        ).id
        ready = [c for c in pending if c[0] in ids]
        pending = [c for c in pending if c[0] not in ids]
        for parent, extraction_key, asset_type_, confidence in ready:
            index = int(extraction_key.rsplit(":", 1)[1])
            Asset.create(
                manifest=manifest,
                name=f"{parent} {extraction_key}",
                asset_type=asset_type_,
                source=Source.EXTRACTED,
                source_asset=ids[parent],
                extraction_key=extraction_key,
                file_path=f".vidpipe/crops/{parent}-{extraction_key}.png",
                content_hash=f"{parent}{extraction_key}",
                detection_confidence=confidence,
                crop_bbox=[10 * index, 0, 10 * index + 50, 50],
            )


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


def add_image(manifest: Manifest, file: str, asset_type: AssetType, sort_order: int = 0) -> Asset:
    return Asset.create(
        manifest=manifest,
        name=file,
        asset_type=asset_type,
        sort_order=sort_order,
        file_path=file,
        content_hash=file,
    )


def test_a_new_asset_that_sorts_first_takes_the_next_number(session):
    manifest = Manifest.create(name="m", folder="m")
    build(manifest, seed=None)
    assign_tags(manifest)
    first = add_image(manifest, "000_first.jpg", AssetType.ENVIRONMENT, sort_order=-5)
    crop = Asset.create(
        manifest=manifest,
        name="first person",
        asset_type=AssetType.CHARACTER,
        source=Source.EXTRACTED,
        source_asset=first,
        extraction_key="det:person:0",
        file_path=".vidpipe/crops/first.png",
        content_hash="first-crop",
        detection_confidence=0.99,
        crop_bbox=[0, 0, 5, 5],
    )

    given = assign_tags(manifest)

    assert given == {first.id: "ENV_03", crop.id: "CHAR_06"}
    result = tags(manifest)
    assert {k: result[k] for k in EXPECTED} == EXPECTED


def test_removed_and_failed_assets_keep_their_numbers_for_their_return(session):
    manifest = Manifest.create(name="m", folder="m")
    build(manifest, seed=None)
    assign_tags(manifest)
    Asset.update(state=AssetState.REMOVED).where(Asset.file_path == "c_market.jpg").execute()
    Asset.update(state=AssetState.ERROR).where(Asset.file_path == "b_street.jpg").execute()

    assert assign_tags(manifest) == {}
    assert tags(manifest) == EXPECTED  # nobody closes ranks

    # A newcomer never takes a gone asset's number...
    newcomer = add_image(manifest, "f_new.jpg", AssetType.ENVIRONMENT)
    assert assign_tags(manifest) == {newcomer.id: "ENV_03"}
    # ...and the gone ones come back with theirs.
    Asset.update(state=AssetState.PENDING).where(
        Asset.file_path.in_(["c_market.jpg", "b_street.jpg"])
    ).execute()
    assert assign_tags(manifest) == {}
    assert {k: v for k, v in tags(manifest).items() if k in EXPECTED} == EXPECTED


def test_a_number_whose_holder_was_renamed_is_not_handed_out_again(session):
    manifest = Manifest.create(name="m", folder="m")
    build(manifest, seed=None)
    assign_tags(manifest)
    sword = Asset.get(Asset.file_path == "d_sword.jpg")  # OBJ_04, the highest OBJ
    edit_field(sword.id, "manifest_tag", "EXCALIBUR")
    shield = add_image(manifest, "g_shield.jpg", AssetType.OBJECT)
    assert assign_tags(manifest) == {shield.id: "OBJ_05"}


def test_a_person_cannot_give_a_tag_another_asset_holds(session):
    manifest = Manifest.create(name="m", folder="m")
    build(manifest, seed=None)
    assign_tags(manifest)
    Asset.update(state=AssetState.REMOVED).where(Asset.file_path == "c_market.jpg").execute()
    hero = Asset.get(Asset.file_path == "a_hero.jpg")
    with pytest.raises(EditError, match=r"CHAR_01 is held by c_market.jpg det:person:1"):
        edit_field(hero.id, "manifest_tag", "CHAR_01")
    assert Asset.get_by_id(hero.id).manifest_tag == "CHAR_03"


def test_a_persons_type_change_takes_the_next_number_of_the_new_type_as_one_change(session):
    manifest = Manifest.create(name="m", folder="m")
    build(manifest, seed=None)
    assign_tags(manifest)
    sword = Asset.get(Asset.file_path == "d_sword.jpg")

    edit_field(sword.id, "asset_type", "character")

    assert Asset.get_by_id(sword.id).manifest_tag == "CHAR_06"
    assert {k: v for k, v in tags(manifest).items() if k != "d_sword.jpg"} == {
        k: v for k, v in EXPECTED.items() if k != "d_sword.jpg"
    }  # nobody else moved
    edits = history(sword.id)
    assert [e.field for e in edits] == ["asset_type", "manifest_tag"]
    assert edits[0].change and edits[0].change == edits[1].change

    undo(sword.id)  # one undo: the type and the tag
    sword = Asset.get_by_id(sword.id)
    assert (sword.asset_type, sword.manifest_tag) == (AssetType.OBJECT, "OBJ_04")
    redo(sword.id)
    sword = Asset.get_by_id(sword.id)
    assert (sword.asset_type, sword.manifest_tag) == (AssetType.CHARACTER, "CHAR_06")
    # CHAR_06 stays spent even once undone: the next character is CHAR_07.
    undo(sword.id)
    newcomer = add_image(manifest, "h_new.jpg", AssetType.CHARACTER)
    assert assign_tags(manifest) == {newcomer.id: "CHAR_07"}


def test_a_machine_type_change_keeps_the_tag_and_says_so(session):
    manifest = Manifest.create(name="m", folder="m")
    build(manifest, seed=None)
    assign_tags(manifest)
    unsorted = Asset.get(Asset.file_path == "e_unsorted.jpg")  # REF_01
    apply_ai_value(unsorted.id, "asset_type", AssetType.CHARACTER.value)

    assert assign_tags(manifest) == {}
    assert Asset.get_by_id(unsorted.id).manifest_tag == "REF_01"
    assert [a.id for a in mismatched_tags(manifest)] == [unsorted.id]
