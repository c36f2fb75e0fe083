"""Detection: crop logic at the Protocol seam, and the real ultralytics path (yolov8n.yaml)."""

from __future__ import annotations

import pytest
from PIL import Image

from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import add_files
from vidpipe.store.models import (
    Asset,
    AssetState,
    AssetType,
    ItemError,
    Source,
    StageProgress,
    StageStatus,
)
from vidpipe.pipeline.stages.base import StageName
from vidpipe.pipeline.stages.detection import DetectionStage
from vidpipe.vision.detector import Box
from vidpipe.vision.weights import YOLO_REMEDY


class KnownBoxes:
    """A detector at the Protocol seam: returns fixed boxes given as fractions of the image."""

    device = "fake"
    identity = "known-boxes"

    def __init__(self, boxes: list[tuple[float, float, float, float, float, str]]):
        self.boxes = boxes
        self.calls = 0
        self.sizes: list[tuple[int, int]] = []

    def detect(self, images):
        self.calls += 1
        out = []
        for image in images:
            self.sizes.append(image.size)
            w, h = image.size
            out.append(
                [
                    Box(x1 * w, y1 * h, x2 * w, y2 * h, conf, cls)
                    for x1, y1, x2, y2, conf, cls in self.boxes
                ]
            )
        return out


def _engine(session, detector):
    return ManifestingEngine(session.project, session.settings, stages=[DetectionStage(detector)])


def _run(session, detector, mode="missing"):
    engine = _engine(session, detector)
    manifest = Asset.select().first().manifest
    run = engine.process_manifest(manifest, mode)
    return run, StageProgress.get(StageProgress.run == run.id, StageProgress.stage == "detection")


def _crops(source_id=None, live=True):
    query = Asset.select().where(Asset.source == Source.EXTRACTED)
    if source_id is not None:
        query = query.where(Asset.source_asset == source_id)
    if live:
        query = query.where(Asset.state != AssetState.REMOVED)
    return list(query.order_by(Asset.id))


BOXES = [
    (0.10, 0.10, 0.50, 0.90, 0.91, "person"),  # big person
    (0.60, 0.50, 0.90, 0.80, 0.80, "car"),
    (0.00, 0.00, 0.05, 0.05, 0.95, "cup"),  # too small (0.25 % of the image)
    (0.55, 0.10, 0.95, 0.40, 0.20, "dog"),  # below confidence
]


def test_boxes_become_crops_with_rows_and_files(session, make_image):
    add_files(session.project, session.settings, [make_image("scene.jpg", size=(800, 600))])
    run, row = _run(session, KnownBoxes(BOXES))
    assert row.status == StageStatus.DONE and row.done == row.total == 1
    assert "2 box(es) kept" in row.message and "fake" in row.message
    crops = _crops()
    assert [(c.detection_class, c.asset_type) for c in crops] == [
        ("person", AssetType.CHARACTER),
        ("car", AssetType.OBJECT),
    ]
    person, car = crops
    assert person.crop_bbox == [80, 60, 400, 540]
    assert car.crop_bbox == [480, 300, 720, 480]
    for crop in crops:
        path = session.project.absolute(crop.file_path)
        assert path.is_file() and path.parent == session.project.crops_dir
        with Image.open(path) as image:
            assert image.size == (
                crop.crop_bbox[2] - crop.crop_bbox[0],
                crop.crop_bbox[3] - crop.crop_bbox[1],
            )
        assert (crop.width, crop.height) == image.size
        assert crop.extraction_key.startswith(f"det:{crop.detection_class}:")
        assert crop.type_source == "detection" and crop.source_asset_id is not None
    source = Asset.get(Asset.source == Source.UPLOADED)
    assert source.asset_type == AssetType.CHARACTER  # a person fills a big part of the frame
    assert not list(session.project.crops_dir.glob("*.part"))


def test_rerun_is_idempotent_and_forced_rerun_removes_vanished_boxes(session, make_image):
    add_files(session.project, session.settings, [make_image("scene.jpg", size=(800, 600))])
    detector = KnownBoxes(BOXES)
    _run(session, detector)
    first = [(c.id, c.extraction_key, c.file_path, c.content_hash) for c in _crops()]

    _run(session, detector)  # missing mode: nothing to do
    assert detector.calls == 1
    _run(session, detector, mode="all")  # forced: same boxes, same rows, same files
    assert detector.calls == 2
    assert [(c.id, c.extraction_key, c.file_path, c.content_hash) for c in _crops()] == first

    # Slight jitter (another device) keeps the rows; a vanished box is marked removed.
    detector.boxes = [(0.101, 0.10, 0.50, 0.901, 0.93, "person")]
    _run(session, detector, mode="all")
    live = _crops()
    assert [c.id for c in live] == [first[0][0]]
    assert live[0].detection_confidence == pytest.approx(0.93)
    removed = Asset.get_by_id(first[1][0])
    assert removed.state == AssetState.REMOVED
    assert Asset.select().where(Asset.source == Source.EXTRACTED).count() == 2  # no duplicates

    detector.boxes = BOXES  # the car comes back: same row, live again
    _run(session, detector, mode="all")
    assert [c.id for c in _crops()] == [first[0][0], first[1][0]]


def test_bbox_is_in_exif_rotated_pixels(session, tmp_path):
    # Stored 400×200 landscape, EXIF orientation 6 (rotate 90° CW): upright it is 200×400.
    image = Image.new("RGB", (400, 200), (10, 200, 10))
    image.paste((250, 10, 10), (0, 0, 100, 200))  # red band on the stored left = upright top
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    add_files(session.project, session.settings, [path])
    detector = KnownBoxes([(0.0, 0.0, 1.0, 0.25, 0.9, "person")])
    _run(session, detector)
    assert detector.sizes == [(200, 400)]
    (crop,) = _crops()
    assert crop.crop_bbox == [0, 0, 200, 100]
    with Image.open(session.project.absolute(crop.file_path)) as saved:
        assert saved.size == (200, 100)
        red, green, _ = saved.convert("RGB").getpixel((100, 50))
        assert red > 200 and green < 60  # the upright top band, not the stored left one


def test_class_filter_and_thresholds_from_settings(session, make_image):
    add_files(session.project, session.settings, [make_image("scene.jpg", size=(800, 600))])
    session.settings = session.settings.replace(
        detection_classes=("car", "dog"), detection_confidence=0.1
    )
    engine = ManifestingEngine(
        session.project, session.settings, stages=[DetectionStage(KnownBoxes(BOXES))]
    )
    engine.process_manifest(Asset.select().first().manifest)
    assert sorted(c.detection_class for c in _crops()) == ["car", "dog"]
    source = Asset.get(Asset.source == Source.UPLOADED)
    # No person kept; the dog fills 12 % and the car 9 %: below OBJECT_OF_NOTE, a scene.
    assert source.asset_type == AssetType.ENVIRONMENT


def test_environment_when_nothing_of_note_and_user_type_kept(session, make_image):
    paths = [make_image("empty.jpg"), make_image("mine.jpg", color=(1, 2, 3))]
    add_files(session.project, session.settings, paths)
    from vidpipe.store.edits import edit_field

    mine = Asset.get(Asset.name == "mine")
    edit_field(mine.id, "asset_type", "STYLE")
    _run(session, KnownBoxes([]))
    assert Asset.get(Asset.name == "empty").asset_type == AssetType.ENVIRONMENT
    assert Asset.get(Asset.name == "mine").asset_type == AssetType.STYLE


def test_corrupt_source_and_corrupt_crop_file(session, make_image):
    good = make_image("good.jpg", size=(800, 600))
    bad = make_image("bad.jpg", size=(800, 600), color=(20, 20, 200))
    add_files(session.project, session.settings, [good, bad])
    detector = KnownBoxes(BOXES[:2])
    # The file is damaged after it was ingested.
    bad_copy = session.project.root / "bad.jpg"
    bad_copy.write_bytes(bad_copy.read_bytes()[:300])
    run, row = _run(session, detector)
    assert row.status == StageStatus.DONE and row.errors == 1 and row.done == 2
    (error,) = ItemError.select().where(ItemError.run == run.id)
    assert error.message.startswith("bad: ") and "truncated" in error.message.lower()
    bad_asset = Asset.get(Asset.name == "bad")
    assert "truncated" in bad_asset.stage_errors["detection"].lower()
    assert len(_crops(Asset.get(Asset.name == "good").id)) == 2

    # A crop file damaged on disk is cut again on the next (missing-mode) run.
    crop = _crops(Asset.get(Asset.name == "good").id)[0]
    crop_file = session.project.absolute(crop.file_path)
    crop_file.write_bytes(b"not a jpeg")
    _run(session, detector)
    assert Asset.get_by_id(crop.id).content_hash == crop.content_hash
    with Image.open(crop_file) as image:
        image.load()


def test_no_weights_is_skipped_with_the_remedy(session, make_image, tmp_path):
    add_files(session.project, session.settings, [make_image("a.jpg")])
    session.settings = session.settings.replace(
        models_dir=tmp_path / "empty-models", yolo_weights="yolov8n.pt"
    )
    engine = ManifestingEngine(session.project, session.settings, stages=[DetectionStage()])
    run = engine.process_manifest(Asset.get().manifest)
    row = StageProgress.get(StageProgress.run == run.id)
    assert row.status == StageStatus.SKIPPED
    assert YOLO_REMEDY in row.message and "yolov8n.pt" in row.message


@pytest.mark.slow
def test_real_ultralytics_path_with_architecture_yaml(session, bus_jpg, zidane_jpg):
    add_files(session.project, session.settings, [bus_jpg, zidane_jpg])
    session.settings = session.settings.replace(
        yolo_weights="yolov8n.yaml",
        device="cpu",
        models_dir=session.project.root / "models",
        detection_batch_size=2,
    )
    engine = ManifestingEngine(session.project, session.settings, stages=[DetectionStage()])
    run = engine.process_manifest(Asset.select().first().manifest)
    row = StageProgress.get(StageProgress.run == run.id, StageProgress.stage == StageName.DETECTION)
    assert row.status == StageStatus.DONE, row.message
    assert row.done == row.total == 2 and row.errors == 0
    assert "on cpu" in row.message
    # Random weights find nothing of note: both images are scenes, and nothing was invented.
    for asset in Asset.select().where(Asset.source == Source.UPLOADED):
        assert asset.asset_type == AssetType.ENVIRONMENT
        assert not asset.stage_errors
    for crop in _crops():
        assert session.project.absolute(crop.file_path).is_file()

    # A second job in the same process reuses the loaded model.
    from vidpipe.vision.detector import get_detector

    detector = get_detector(session.settings)
    assert detector.loaded
    run2 = ManifestingEngine(
        session.project, session.settings, stages=[DetectionStage()]
    ).process_manifest(Asset.select().first().manifest, "all")
    row2 = StageProgress.get(StageProgress.run == run2.id)
    assert row2.status == StageStatus.DONE and "model load" not in row2.message
    assert get_detector(session.settings) is detector
