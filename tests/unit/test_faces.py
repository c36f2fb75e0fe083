"""Faces for real: deepface (mtcnn + Dlib) on photos shipped in packages.

The face model is loaded once per test session (vidpipe caches it per process); each test runs the
real stage through the engine.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageOps

from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.extracted import iou
from vidpipe.pipeline.ingest import add_files
from vidpipe.store.models import Asset, AssetType, ItemError, Source, StageProgress, StageStatus
from vidpipe.pipeline.stages.faces import FaceStage

pytestmark = pytest.mark.slow

# zidane_v.jpg is zidane.jpg cropped to this box, scaled by VARIANT_SCALE, re-encoded at q55.
VARIANT_CROP = (100, 36, 1216, 698)
VARIANT_SCALE = 0.7


@pytest.fixture(scope="module")
def photo_variants(tmp_path_factory, zidane_jpg, gracehopper_jpg):
    folder = tmp_path_factory.mktemp("variants")
    with Image.open(zidane_jpg) as zidane:
        crop = zidane.convert("RGB").crop(VARIANT_CROP)
        crop = crop.resize((round(crop.width * VARIANT_SCALE), round(crop.height * VARIANT_SCALE)))
        crop.save(folder / "zidane_v.jpg", quality=55)
    with Image.open(gracehopper_jpg) as grace:
        grace = grace.convert("RGB")
        big = grace.resize((grace.width * 13 // 10, grace.height * 13 // 10))
        buffer = io.BytesIO()
        big.save(buffer, "WEBP", quality=70)
        Image.open(buffer).save(folder / "grace_v.png")
        ImageOps.grayscale(grace).save(folder / "grace_grey.png")
    return folder


def _run(session, mode="missing"):
    engine = ManifestingEngine(session.project, session.settings, stages=[FaceStage()])
    run = engine.process_manifest(Asset.select().first().manifest, mode)
    return run, StageProgress.get(StageProgress.run == run.id)


def _faces_of(name: str) -> list[Asset]:
    source = Asset.get(Asset.name == name, Asset.source == Source.UPLOADED)
    return sorted(
        Asset.select().where(Asset.source_asset == source.id, Asset.is_face_crop == True),  # noqa: E712
        key=lambda a: a.crop_bbox[0],
    )


def _to_original(bbox):
    """A zidane_v.jpg box in zidane.jpg pixels."""
    x1, y1, x2, y2 = (v / VARIANT_SCALE for v in bbox)
    return (x1 + VARIANT_CROP[0], y1 + VARIANT_CROP[1], x2 + VARIANT_CROP[0], y2 + VARIANT_CROP[1])


def test_real_faces_found_cropped_and_grouped(
    session, zidane_jpg, bus_jpg, gracehopper_jpg, photo_variants
):
    add_files(
        session.project,
        session.settings,
        [
            zidane_jpg,
            bus_jpg,
            gracehopper_jpg,
            photo_variants / "zidane_v.jpg",
            photo_variants / "grace_v.png",
            photo_variants / "grace_grey.png",
        ],
    )
    run, row = _run(session)
    assert row.status == StageStatus.DONE, row.message
    assert row.done == row.total == 6 and row.errors == 0

    zidane, zidane_v = _faces_of("zidane"), _faces_of("zidane_v")
    grace = _faces_of("gracehopper") + _faces_of("grace_v") + _faces_of("grace_grey")
    bus = _faces_of("bus")
    assert len(zidane) == 2 and len(zidane_v) == 2 and len(grace) == 3 and len(bus) >= 1
    for face in zidane + zidane_v + grace + bus:
        assert face.is_face_crop and face.asset_type == AssetType.CHARACTER
        assert face.detection_class == "face" and face.detection_confidence >= 0.9
        assert len(face.face_embedding) == 128
        with Image.open(session.project.absolute(face.file_path)) as crop:
            assert crop.size == (
                face.crop_bbox[2] - face.crop_bbox[0],
                face.crop_bbox[3] - face.crop_bbox[1],
            )
    # The crop boxes of the variant map back onto the same two men in the original.
    for original, variant in zip(zidane, zidane_v):
        assert iou(original.crop_bbox, _to_original(variant.crop_bbox)) > 0.6

    # Same person in differently cropped/resized/re-encoded copies: one group each.
    assert zidane[0].face_group == zidane_v[0].face_group
    assert zidane[1].face_group == zidane_v[1].face_group
    assert len({face.face_group for face in grace}) == 1
    # Different people: different groups.
    groups = [zidane[0].face_group, zidane[1].face_group, grace[0].face_group]
    groups += [face.face_group for face in bus]
    assert len(set(groups)) == len(groups)

    # Within a group one primary; the others point at it and say so in their description.
    for members in ([zidane[0], zidane_v[0]], [zidane[1], zidane_v[1]], grace):
        members = [Asset.get_by_id(m.id) for m in members]
        primaries = [m for m in members if m.duplicate_of_id is None]
        assert len(primaries) == 1 and primaries[0].face_group == primaries[0].id
        for m in members:
            if m is not primaries[0]:
                assert m.duplicate_of_id == primaries[0].id
                assert m.description == f"(Duplicate of {primaries[0].name})"

    # A rerun finds the same rows; nothing is searched twice.
    before = {
        a.id: (a.extraction_key, a.face_group)
        for a in Asset.select().where(Asset.is_face_crop == True)  # noqa: E712
    }
    _, again = _run(session)
    assert again.status == StageStatus.DONE and again.total == 0
    assert before == {
        a.id: (a.extraction_key, a.face_group)
        for a in Asset.select().where(Asset.is_face_crop == True)  # noqa: E712
    }


def test_bad_inputs_end_in_a_clear_state(session, make_image, gracehopper_jpg, tmp_path):
    shapes = make_image("shapes.png", size=(640, 480), color=(30, 90, 200))
    tiny = make_image("tiny.png", size=(6, 6), color=(200, 200, 0))
    with Image.open(gracehopper_jpg) as grace:
        grace = grace.convert("RGB")
        huge = Image.new("RGB", (6000, 4000), (120, 120, 120))
        huge.paste(grace.resize((grace.width * 4, grace.height * 4)), (2500, 1200))
        huge_path = tmp_path / "huge.jpg"
        huge.save(huge_path, quality=85)
    broken = make_image("broken.jpg", size=(640, 480), color=(1, 1, 1))
    add_files(session.project, session.settings, [shapes, tiny, huge_path, broken])
    (session.project.root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")

    run, row = _run(session)
    assert row.status == StageStatus.DONE, row.message
    assert row.done == row.total == 4 and row.errors == 1
    (error,) = ItemError.select().where(ItemError.run == run.id)
    assert error.message.startswith("broken: ")
    assert "faces" in Asset.get(Asset.name == "broken").stage_errors
    assert _faces_of("shapes") == [] and _faces_of("tiny") == []
    assert not Asset.get(Asset.name == "shapes").stage_errors
    (face,) = _faces_of("huge")
    x1, y1, x2, y2 = face.crop_bbox  # in the full-size image's pixels, not the detection copy
    assert 2500 <= x1 < x2 <= 2500 + 4 * 512 and 1200 <= y1 < y2 <= 1200 + 4 * 512

    # A face crop damaged on disk is cut again by the next run; the rest is left alone.
    crop_file = session.project.absolute(face.file_path)
    crop_file.write_bytes(b"garbage")
    run, row = _run(session)
    assert row.status == StageStatus.DONE and row.done == row.total == 2  # huge + broken again
    assert Asset.get_by_id(face.id).content_hash == face.content_hash
    with Image.open(crop_file) as image:
        image.load()
